"""Check-ins: the history of a key result's value, manual or from a source sync."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Float, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow


class CheckInSource(StrEnum):
    manual = "manual"
    automated = "automated"


class CheckIn(IdMixin, TenantOwned, Base):
    __tablename__ = "check_ins"
    __table_args__ = (Index("ix_check_ins_key_result_checked", "key_result_id", "checked_at"),)

    key_result_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("key_results.id", ondelete="CASCADE")
    )
    value: Mapped[float] = mapped_column(Float)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    source: Mapped[CheckInSource] = mapped_column(
        Enum(CheckInSource, native_enum=False, length=16), default=CheckInSource.manual
    )
    source_ref: Mapped[str | None] = mapped_column(String(500), default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Archived check-ins stay for the record but no longer count towards the value.
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
