"""Writing and reading the append-only audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from okr_core.actors import Actor
from okr_core.models import AuditEvent
from okr_core.tenancy import require_tenant

REDACTED = "[redacted]"
SENSITIVE_FIELDS = frozenset({"password", "password_hash", "secret", "token", "credentials"})


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event in the session's tenant. Sensitive values are redacted."""
    event = AuditEvent(
        **event_row(
            tenant_id=require_tenant(session),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            changes=changes,
        )
    )
    session.add(event)
    return event


# The audit_events table, for Core statements that write an event together with the change it
# describes (``append``, or a caller's own multi-statement round trip with ``event_row``).
EVENTS = cast(Table, AuditEvent.__table__)
_INSERT_EVENT = insert(EVENTS)


def event_row(
    *,
    tenant_id: uuid.UUID,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    changes: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """One audit event as the column values of an ``EVENTS`` insert (or of an ``AuditEvent``,
    as :func:`record` makes), with a fresh id; sensitive values are redacted."""
    return {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "changes": _redact(changes or {}),
        "occurred_at": occurred_at or datetime.now(UTC),
    }


def append(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    changes: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> uuid.UUID:
    """What :func:`record` does, as one Core INSERT on the session's connection, now.

    For hot paths that write with Core: no ORM object, no flush; the event is written in the
    session's transaction (and its tenant), so it commits or rolls back with the change it
    describes. Sensitive values are redacted. Returns the event's id.
    """
    row = event_row(
        tenant_id=require_tenant(session),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        changes=changes,
        occurred_at=occurred_at,
    )
    session.connection().execute(_INSERT_EVENT, row)
    event_id: uuid.UUID = row["id"]
    return event_id


def _redact(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: (REDACTED if key in SENSITIVE_FIELDS else _jsonable(value))
        for key, value in changes.items()
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Changed fields as ``{field: {"from": old, "to": new}}``."""
    return {
        key: {"from": _jsonable(before.get(key)), "to": _jsonable(value)}
        for key, value in after.items()
        if before.get(key) != value
    }


def recent(session: Session, *, limit: int = 50) -> Sequence[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc()).limit(limit)
    return session.scalars(stmt).all()
