"""Signature-verified webhook deliveries waiting for the webhook sensor to turn them into runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, TenantOwned, UtcDateTime, utcnow


class WebhookEvent(TenantOwned, Base):
    """Deduplicated on (integration, delivery id). The integer id is the sensor's cursor."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("integration_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    integration_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100), default="")
    # A small summary (event type, action, record ids); never the raw body.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
