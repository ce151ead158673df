"""Key results: a measurable outcome of an objective. Progress and health are derived, not stored
(see ``okr_core.progress``)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import Enum, Float, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, TimestampMixin


class Direction(StrEnum):
    increase = "increase"
    decrease = "decrease"


class KeyResultStatus(StrEnum):
    active = "active"
    archived = "archived"


class KeyResult(IdMixin, TenantOwned, TimestampMixin, Base):
    __tablename__ = "key_results"
    __table_args__ = (UniqueConstraint("objective_id", "title"),)

    objective_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("objectives.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    unit: Mapped[str] = mapped_column(String(32), default="")
    direction: Mapped[Direction] = mapped_column(
        Enum(Direction, native_enum=False, length=16), default=Direction.increase
    )
    start_value: Mapped[float] = mapped_column(Float)
    target_value: Mapped[float] = mapped_column(Float)
    current_value: Mapped[float] = mapped_column(Float)
    status: Mapped[KeyResultStatus] = mapped_column(
        Enum(KeyResultStatus, native_enum=False, length=16), default=KeyResultStatus.active
    )
