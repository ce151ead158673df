"""Provisioning management: SCIM tokens, group-to-role mappings, policy, recent events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from okr_core.models import DeletionMode
from okr_core.roles import Role


class ScimTokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class ScimTokenRead(BaseModel):
    id: uuid.UUID
    name: str
    hint: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


class ScimTokenCreated(ScimTokenRead):
    token: str = Field(description="The token itself: shown in this response only.")


class SettingsRead(BaseModel):
    default_role: Role | None
    deletion_mode: DeletionMode
    retention_days: int


class SettingsUpdate(BaseModel):
    """All optional; applied with exclude_unset (send default_role: null for no access)."""

    default_role: Role | None = None
    deletion_mode: DeletionMode | None = None
    retention_days: int | None = Field(default=None, ge=0, le=3650)


class RoleMappingCreate(BaseModel):
    group_display_name: str | None = Field(default=None, max_length=255)
    group_id: uuid.UUID | None = None
    role: Role


class RoleMappingUpdate(BaseModel):
    role: Role


class RoleMappingRead(BaseModel):
    id: uuid.UUID
    group_display_name: str | None
    group_id: uuid.UUID | None
    group_exists: bool
    role: Role


class GroupRead(BaseModel):
    id: uuid.UUID
    display_name: str
    mapped_role: Role | None


class ProvisioningEventRead(BaseModel):
    id: uuid.UUID
    occurred_at: datetime
    actor_label: str
    action: str
    target_type: str
    target_id: str | None
    target_label: str | None
    changes: dict[str, Any]


class NotificationRead(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class ProvisioningOverview(BaseModel):
    scim_base_url: str
    settings: SettingsRead
    tokens: list[ScimTokenRead]
    role_mappings: list[RoleMappingRead]
    groups: list[GroupRead]
    open_reassignments: int
