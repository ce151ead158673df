"""Users of one tenant and the roles granted to them directly."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, TimestampMixin, UtcDateTime
from okr_core.roles import Role


class User(IdMixin, TenantOwned, TimestampMixin, Base):
    """A person. ``password_hash`` is only set for break-glass local sign-in."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)
    tenant_id_indexed = False  # the unique (tenant_id, email) index serves

    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # Bumped to end every session of the user at once (sign-out everywhere, deprovisioning).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class UserRole(IdMixin, TenantOwned, Base):
    """A role granted to a user directly (not through a group)."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32))
