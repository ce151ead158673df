"""The tenant's provisioning policy: default role, and what deleting a provisioned user does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import ValidationFailed
from okr_core.models import DeletionMode, ProvisioningSettings
from okr_core.roles import TENANT_ROLES, Role
from okr_core.tenancy import require_tenant

MAX_RETENTION_DAYS = 3650
_UNSET = object()


def get_settings(session: Session) -> ProvisioningSettings:
    """The tenant's settings; defaults (viewer, soft delete, 30 days) until someone saves any."""
    require_tenant(session)
    row = session.scalars(select(ProvisioningSettings)).one_or_none()
    if row is None:
        return ProvisioningSettings(
            default_role=Role.viewer, deletion_mode=DeletionMode.soft, retention_days=30
        )
    return row


def update_settings(
    session: Session,
    *,
    actor: Actor,
    default_role: Role | object | None = _UNSET,
    deletion_mode: DeletionMode | None = None,
    retention_days: int | None = None,
) -> ProvisioningSettings:
    tenant_id = require_tenant(session)
    row = session.scalars(select(ProvisioningSettings)).one_or_none()
    if row is None:
        row = ProvisioningSettings(
            tenant_id=tenant_id,
            default_role=Role.viewer,
            deletion_mode=DeletionMode.soft,
            retention_days=30,
        )
        session.add(row)
    before = {
        "default_role": row.default_role,
        "deletion_mode": row.deletion_mode,
        "retention_days": row.retention_days,
    }
    if default_role is not _UNSET:
        if default_role is not None and default_role not in TENANT_ROLES:
            raise ValidationFailed(
                "default_role must be viewer, okr_editor, tenant_admin or none",
                details={"field": "default_role"},
            )
        row.default_role = default_role  # type: ignore[assignment]
    if deletion_mode is not None:
        row.deletion_mode = deletion_mode
    if retention_days is not None:
        if not 0 <= retention_days <= MAX_RETENTION_DAYS:
            raise ValidationFailed(
                f"retention_days must be between 0 and {MAX_RETENTION_DAYS}",
                details={"field": "retention_days"},
            )
        row.retention_days = retention_days
    after = {
        "default_role": row.default_role,
        "deletion_mode": row.deletion_mode,
        "retention_days": row.retention_days,
    }
    changes = audit.diff(before, after)
    if changes:
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="provisioning.settings_changed",
            target_type="provisioning_settings",
            target_id=row.id,
            changes=changes,
        )
    return row
