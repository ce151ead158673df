"""Reading the audit trail: filters (actor, action, target, time range) and keyset paging.

Newest first, ordered by (occurred_at, id) so pages never skip or repeat events even when
many share a timestamp. The cursor is opaque to clients.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from okr_core.errors import ValidationFailed
from okr_core.models import AuditEvent, Group, User
from okr_core.tenancy import require_tenant

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None  # an actor id or label, exactly
    actor_type: str | None = None  # user, scim_token, api_key, system, cli
    action: str | None = None  # exact, or a prefix ending in "*" (e.g. "scim.*")
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def encode_cursor(event: AuditEvent) -> str:
    raw = f"{event.occurred_at.isoformat()}|{event.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        occurred, _, event_id = base64.urlsafe_b64decode(padded).decode().partition("|")
        return datetime.fromisoformat(occurred), uuid.UUID(event_id)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not valid", details={"field": "cursor"}) from None


def _statement(criteria: AuditFilter) -> Select[AuditEvent]:
    stmt = select(AuditEvent)
    if criteria.actor:
        stmt = stmt.where(
            or_(AuditEvent.actor_id == criteria.actor, AuditEvent.actor_label == criteria.actor)
        )
    if criteria.actor_type:
        stmt = stmt.where(AuditEvent.actor_type == criteria.actor_type)
    if criteria.action:
        if criteria.action.endswith("*"):
            prefix = criteria.action[:-1]
            stmt = stmt.where(AuditEvent.action.startswith(prefix, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == criteria.action)
    if criteria.target_type:
        stmt = stmt.where(AuditEvent.target_type == criteria.target_type)
    if criteria.target_id:
        stmt = stmt.where(AuditEvent.target_id == criteria.target_id)
    if criteria.since:
        stmt = stmt.where(AuditEvent.occurred_at >= criteria.since)
    if criteria.until:
        stmt = stmt.where(AuditEvent.occurred_at < criteria.until)
    return stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())


def search(
    session: Session, criteria: AuditFilter, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[AuditEvent], str | None]:
    """One page of events and the cursor of the next page (None on the last page)."""
    require_tenant(session)
    if criteria.since and criteria.until and criteria.since >= criteria.until:
        raise ValidationFailed("since must be before until", details={"field": "since"})
    limit = max(1, min(limit, MAX_PAGE))
    stmt = _statement(criteria)
    if cursor:
        at, event_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                AuditEvent.occurred_at < at,
                and_(AuditEvent.occurred_at == at, AuditEvent.id < event_id),
            )
        )
    rows = list(session.scalars(stmt.limit(limit + 1)).all())
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1])
    return rows, None


def iterate(session: Session, criteria: AuditFilter, *, batch: int = 500) -> Iterator[AuditEvent]:
    """Every matching event, newest first, read in keyset batches (for exports)."""
    cursor: str | None = None
    while True:
        rows, cursor = search(session, criteria, cursor=cursor, limit=min(batch, MAX_PAGE))
        yield from rows
        if cursor is None:
            return


def target_labels(session: Session, events: Sequence[AuditEvent]) -> dict[str, str]:
    """Current display names of the users and groups that events point at, by id."""
    ids: dict[str, set[uuid.UUID]] = {"user": set(), "group": set()}
    for event in events:
        if event.target_type in ids and event.target_id:
            try:
                ids[event.target_type].add(uuid.UUID(event.target_id))
            except ValueError:
                continue
    labels: dict[str, str] = {}
    if ids["user"]:
        for user_id, name in session.execute(
            select(User.id, User.display_name).where(User.id.in_(ids["user"]))
        ).all():
            labels[str(user_id)] = name
    if ids["group"]:
        for group_id, name in session.execute(
            select(Group.id, Group.display_name).where(Group.id.in_(ids["group"]))
        ).all():
            labels[str(group_id)] = name
    return labels
