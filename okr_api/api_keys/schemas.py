"""Bodies of the API key management endpoints (tenant admins, cookie auth)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from okr_core.api_keys import MAX_ROTATION_OVERLAP_DAYS, NAME_MAX


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX, examples=["Warehouse sync"])
    scopes: list[str] = Field(min_length=1, examples=[["objectives:read", "key_results:read"]])
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working; omit for no expiry."
    )
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="Alternative to expires_at."
    )


class ApiKeyRotate(BaseModel):
    old_key_expires_in_hours: int = Field(
        default=24,
        ge=0,
        le=MAX_ROTATION_OVERLAP_DAYS * 24 - 1,
        description="How long the old key keeps working next to the new one (0: stop now).",
    )


class ApiKeyRead(BaseModel):
    id: uuid.UUID
    name: str
    display_prefix: str
    environment: str
    scopes: list[str]
    status: str = Field(description="active, expired or revoked.")
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None
    rotated_from_id: uuid.UUID | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown exactly once: store it now.")


class ScopeRead(BaseModel):
    scope: str
    description: str


class UsageDayRead(BaseModel):
    day: date
    requests: int
    errors: int
    server_errors: int
    error_rate: float
    p95_ms: float | None
    mean_ms: float | None


class UsageRouteRead(BaseModel):
    route: str
    requests: int
    errors: int
    p95_ms: float | None


class UsageRead(BaseModel):
    key_id: uuid.UUID
    since: date
    until: date
    requests: int
    errors: int
    error_rate: float
    p95_ms: float | None
    days: list[UsageDayRead]
    routes: list[UsageRouteRead]
