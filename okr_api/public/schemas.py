"""The public v1 contract's response bodies. Frozen once published: only additive changes.

``tests/okr_api/public/test_openapi_contract.py`` compares the generated spec with the committed
snapshot and fails on a breaking change.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class HealthValue(StrEnum):
    done = "done"
    on_track = "on_track"
    at_risk = "at_risk"
    off_track = "off_track"


class ObjectiveRead(BaseModel):
    """An objective: what a team wants to achieve in a period."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b5c3a52-4a5e-4d1f-9c1e-6a3f1f6a2b10",
                    "title": "Delight enterprise customers",
                    "description": "",
                    "owner_id": None,
                    "period": "2026-Q4",
                    "period_start": "2026-10-01",
                    "period_end": "2026-12-31",
                    "parent_id": None,
                    "status": "active",
                    "created_at": "2026-10-01T09:00:00Z",
                    "updated_at": "2026-11-20T16:12:03Z",
                }
            ]
        }
    )

    id: uuid.UUID
    title: str
    description: str
    owner_id: uuid.UUID | None
    period: str = Field(description="Quarter, like 2026-Q4.")
    period_start: date
    period_end: date
    parent_id: uuid.UUID | None = Field(description="The objective this one is aligned to.")
    status: str = Field(description="active, completed or archived.")
    created_at: datetime
    updated_at: datetime


class KeyResultRead(BaseModel):
    """A key result with its derived progress (0-1) and health on the day of the request."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f0e2f44-1f0b-4b8e-8a59-0f2d6c1d9a77",
                    "objective_id": "0b5c3a52-4a5e-4d1f-9c1e-6a3f1f6a2b10",
                    "title": "NPS of enterprise accounts above 50",
                    "owner_id": None,
                    "unit": "points",
                    "direction": "increase",
                    "start_value": 31.0,
                    "target_value": 50.0,
                    "current_value": 42.0,
                    "status": "active",
                    "progress": 0.5789,
                    "health": "on_track",
                    "created_at": "2026-10-01T09:00:00Z",
                    "updated_at": "2026-11-20T16:12:03Z",
                }
            ]
        }
    )

    id: uuid.UUID
    objective_id: uuid.UUID
    title: str
    owner_id: uuid.UUID | None
    unit: str
    direction: str = Field(description="increase or decrease.")
    start_value: float
    target_value: float
    current_value: float
    status: str = Field(description="active or archived.")
    progress: float = Field(ge=0.0, le=1.0, description="Share of the way from start to target.")
    health: HealthValue
    created_at: datetime
    updated_at: datetime


class CheckInSourceValue(StrEnum):
    manual = "manual"
    automated = "automated"


class CheckInRead(BaseModel):
    """One value in a key result's history: typed in by a person or synced from a source."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "a2c61c8e-8a9e-4b43-9d7e-2d0f1b0e2c55",
                    "key_result_id": "6f0e2f44-1f0b-4b8e-8a59-0f2d6c1d9a77",
                    "value": 42.0,
                    "checked_at": "2026-11-20T16:12:03Z",
                    "source": "automated",
                    "source_ref": "jira:PROJ-123",
                    "note": "",
                    "author_id": None,
                    "created_at": "2026-11-20T16:12:04Z",
                }
            ]
        }
    )

    id: uuid.UUID
    key_result_id: uuid.UUID
    value: float
    checked_at: datetime
    source: CheckInSourceValue
    source_ref: str | None = Field(description="Where an automated value came from.")
    note: str
    author_id: uuid.UUID | None
    created_at: datetime


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` as ``cursor`` to get the next page."""

    data: list[T]
    has_more: bool
    next_cursor: str | None


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is stable and machine-readable."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:okr-hub:error:insufficient_scope",
                    "title": "Forbidden",
                    "status": 403,
                    "code": "insufficient_scope",
                    "detail": "this API key lacks the key_results:read scope",
                    "required_scope": "key_results:read",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] | None = None
    required_scope: str | None = None
    retry_after_seconds: int | None = None
