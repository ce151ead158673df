"""Audit event responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventRead(BaseModel):
    id: uuid.UUID
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_label: str
    action: str
    target_type: str
    target_id: str | None
    target_label: str | None
    changes: dict[str, Any]


class AuditEventPage(BaseModel):
    items: list[AuditEventRead]
    next_cursor: str | None
