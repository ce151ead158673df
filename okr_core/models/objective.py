"""Objectives: what a team wants to achieve in a period, optionally aligned to a parent."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from sqlalchemy import Date, Enum, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, TimestampMixin


class ObjectiveStatus(StrEnum):
    active = "active"
    completed = "completed"
    archived = "archived"


class Objective(IdMixin, TenantOwned, TimestampMixin, Base):
    __tablename__ = "objectives"
    __table_args__ = (UniqueConstraint("tenant_id", "period", "title"),)

    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    period: Mapped[str] = mapped_column(String(16), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("objectives.id", ondelete="SET NULL"), index=True, default=None
    )
    status: Mapped[ObjectiveStatus] = mapped_column(
        Enum(ObjectiveStatus, native_enum=False, length=16), default=ObjectiveStatus.active
    )
