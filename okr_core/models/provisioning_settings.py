"""Per-tenant provisioning policy: the default role and what a SCIM DELETE does."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow
from okr_core.roles import Role


class DeletionMode(StrEnum):
    soft = "soft"  # deactivate, keep for the retention period, then purge
    hard = "hard"  # remove personal data at once, keep pseudonymised references


class ProvisioningSettings(IdMixin, TenantOwned, Base):
    __tablename__ = "provisioning_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    # Role of users whom neither a direct grant nor a group mapping gives one; None: no access.
    # No column default: None must be storable (the ORM would replace None by a default).
    default_role: Mapped[Role | None] = mapped_column(Enum(Role, native_enum=False, length=32))
    deletion_mode: Mapped[DeletionMode] = mapped_column(
        Enum(DeletionMode, native_enum=False, length=16), default=DeletionMode.soft
    )
    retention_days: Mapped[int] = mapped_column(Integer, default=30)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
