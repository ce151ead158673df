"""In-app notifications for the people of a tenant who hold a given role (generic)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow
from okr_core.roles import Role


class Notification(IdMixin, TenantOwned, Base):
    """One message for everyone in the tenant holding ``audience`` or a higher role."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_tenant_created", "tenant_id", "created_at"),)

    audience: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=32), default=Role.tenant_admin
    )
    kind: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the notification is about, so it can be found again (and scrubbed on erasure).
    subject_type: Mapped[str | None] = mapped_column(String(64), default=None)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
