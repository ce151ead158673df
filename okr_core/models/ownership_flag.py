"""Objectives and key results whose owner was deprovisioned and that need a new owner."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow


class OwnershipFlag(IdMixin, TenantOwned, Base):
    """``object_type`` is ``objective`` or ``key_result``; resolved when someone takes it over."""

    __tablename__ = "ownership_flags"
    __table_args__ = (Index("ix_ownership_flags_object", "tenant_id", "object_type", "object_id"),)

    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # The former owner's id: no foreign key, it must outlive the person's erasure.
    former_owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(32))
    flagged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
