"""Groups and memberships; one row per membership so a change never rewrites a group."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, TimestampMixin


class Group(IdMixin, TenantOwned, TimestampMixin, Base):
    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "display_name"),
        # displayName is unique case-insensitively (SCIM caseExact=false): the name check and
        # filters compare lower(display_name).
        Index("ix_groups_tenant_name_key", "tenant_id", text("lower(display_name)")),
    )
    tenant_id_indexed = False  # the unique (tenant_id, display_name) index serves

    display_name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    # Weak ETag of the SCIM representation; bumped by every change, membership included.
    version: Mapped[int] = mapped_column(Integer, default=1)


class GroupMembership(TenantOwned, Base):
    __tablename__ = "group_memberships"
    group_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
