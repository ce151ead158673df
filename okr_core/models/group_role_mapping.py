"""Group-to-role mappings: membership of an identity-provider group grants a tenant role."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Enum, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow
from okr_core.roles import Role


class GroupRoleMapping(IdMixin, TenantOwned, Base):
    """Members of the group named ``group_display_name`` (or with id ``group_id``) get ``role``.

    Exactly one of the two group references is set: a display name survives the group being
    re-created by the identity provider, an id survives a rename.
    """

    __tablename__ = "group_role_mappings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "group_display_key"),
        UniqueConstraint("tenant_id", "group_id"),
    )

    group_display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    group_display_key: Mapped[str | None] = mapped_column(String(255), default=None)
    group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
