"""API keys: tenant-owned service credentials for the public API, with their rate-limit
overrides and daily usage aggregates.

Only an HMAC-SHA256 digest of a key is stored (``digest``, unique, so verification is one indexed
lookup); the key itself is shown once at creation and never again.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, TimestampMixin, UtcDateTime, utcnow


class ApiKey(IdMixin, TenantOwned, Base):
    """One service key of a tenant: not tied to a person's rights, only to its scopes."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(8))  # "live" or "test"
    # The recognisable start of the key (prefix + first characters), safe to show in lists.
    display_prefix: Mapped[str] = mapped_column(String(24))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by_label: Mapped[str] = mapped_column(String(320), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_used_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    # Set on the key issued by a rotation: the key it replaces (which got an expiry date).
    rotated_from_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="SET NULL"), default=None
    )


class ApiRateLimit(IdMixin, TenantOwned, TimestampMixin, Base):
    """A tenant's rate-limit overrides, set by the platform operator (limits syntax, e.g.
    ``1200/minute``); a null column means the deployment's default."""

    __tablename__ = "api_rate_limits"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    per_key: Mapped[str | None] = mapped_column(String(64), default=None)
    per_tenant: Mapped[str | None] = mapped_column(String(64), default=None)


# Upper bounds (milliseconds) of the latency histogram buckets; one more bucket holds the rest.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500, 1000, 2000, 5000,
)  # fmt: skip
LATENCY_COLUMNS: tuple[str, ...] = (
    *(f"ms_le_{bound}" for bound in LATENCY_BOUNDS_MS),
    f"ms_gt_{LATENCY_BOUNDS_MS[-1]}",
)


class ApiKeyUsage(IdMixin, TenantOwned, Base):
    """Requests of one key on one UTC day for one route template and status.

    Grain: one row per (key, day, route, status). Flushes add to a row with an upsert, so
    several API processes can flush concurrently; latencies are kept as a fixed histogram so
    percentiles can be merged across rows.
    """

    __tablename__ = "api_key_usage"
    __table_args__ = (UniqueConstraint("api_key_id", "day", "route", "status"),)

    api_key_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="CASCADE")
    )
    day: Mapped[date] = mapped_column(Date)
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms_total: Mapped[float] = mapped_column(Float, default=0.0)
    ms_le_1: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_2: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_3: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_5: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_8: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_12: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_20: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_30: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_50: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_80: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_120: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_200: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_300: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_500: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_1000: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_2000: Mapped[int] = mapped_column(Integer, default=0)
    ms_le_5000: Mapped[int] = mapped_column(Integer, default=0)
    ms_gt_5000: Mapped[int] = mapped_column(Integer, default=0)

    def histogram(self) -> list[int]:
        return [int(getattr(self, name)) for name in LATENCY_COLUMNS]
