"""One attempt to sync one integration: the record behind integration status and health."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow


class SyncTrigger(StrEnum):
    schedule = "schedule"
    webhook = "webhook"
    manual = "manual"
    backfill = "backfill"


class SyncStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class ErrorClass(StrEnum):
    transient = "transient"  # timeouts, resets, 429, 5xx: retried with backoff
    permanent = "permanent"  # 401, 403, 404, invalid query: the admin must fix something


class SyncRun(IdMixin, TenantOwned, Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_integration_started", "integration_id", "started_at"),)

    integration_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("integrations.id", ondelete="CASCADE")
    )
    trigger: Mapped[SyncTrigger] = mapped_column(Enum(SyncTrigger, native_enum=False, length=16))
    status: Mapped[SyncStatus] = mapped_column(
        Enum(SyncStatus, native_enum=False, length=16), default=SyncStatus.running
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    records_read: Mapped[int] = mapped_column(Integer, default=0)
    records_written: Mapped[int] = mapped_column(Integer, default=0)
    error_class: Mapped[ErrorClass | None] = mapped_column(
        Enum(ErrorClass, native_enum=False, length=16), default=None
    )
    # Never holds a secret: messages are built from our own text and the vendor's status.
    message: Mapped[str | None] = mapped_column(Text, default=None)
    dagster_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
