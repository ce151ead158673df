"""Tenants: the boundary no request, run, log line or file may cross."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TimestampMixin


class TenantStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    deleted = "deleted"


class Tenant(IdMixin, TimestampMixin, Base):
    """A customer organisation. ``id`` is stable forever; ``slug`` is the human handle."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[TenantStatus] = mapped_column(
        Enum(TenantStatus, native_enum=False, length=16), default=TenantStatus.active
    )
