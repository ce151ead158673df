"""What the Dagster sensors ask the app database: which integrations are due, which webhook
events wait.

The two cross-tenant reads return ids only. On PostgreSQL they run through the SECURITY DEFINER
functions of migration 0006 (row-level security hides other tenants' rows from the app role);
on SQLite, which has no row-level security, the same statements run on the tables directly.
Everything per tenant (marking events processed, clearing a "sync now" request) runs in that
tenant's context.

"Sync now" (:func:`okr_core.integrations.request_sync`) sets ``sync_requested_at`` and makes the
integration due. Claims put requested integrations first and carry the request's instant, so
the sensor can run them with trigger ``manual``; :func:`clear_sync_request` removes the request
when that sync starts (migration 0007).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, or_, select, text, update
from sqlalchemy.orm import Session

from okr_core.models import Integration, Tenant, TenantStatus, WebhookEvent
from okr_core.tenancy import require_tenant

SYNC_SOURCES = ("jira", "github")
BATCH_SIZE = 100
# An unprocessed event older than this is picked up again even if the cursor passed its id
# (its transaction committed after a later event had been read).
STRAGGLER_AGE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class DueIntegration:
    integration_id: uuid.UUID
    tenant_id: uuid.UUID
    source: str
    # When "Sync now" asked for this sync (None: the schedule made it due).
    sync_requested_at: datetime | None = None

    @property
    def manual(self) -> bool:
        return self.sync_requested_at is not None


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    event_id: int
    tenant_id: uuid.UUID
    integration_id: uuid.UUID
    source: str


def _uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    text_value = str(value)
    return uuid.UUID(hex=text_value) if len(text_value) == 32 else uuid.UUID(text_value)


def _aware(value: object) -> datetime | None:
    """A timestamp as an aware UTC datetime (SQLite hands back text from raw statements)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def claim_due_integrations(
    session: Session,
    *,
    now: datetime,
    limit: int,
    sources: Sequence[str] = SYNC_SOURCES,
) -> list[DueIntegration]:
    """Claim up to ``limit`` due integrations ("sync now" requests first, then oldest due
    first): their ``next_sync_at`` moves one interval on, so the next tick does not request
    them again. A request (``sync_requested_at``) stays until its sync starts. Does not
    commit."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT integration_id, tenant_id, source, sync_requested_at "
                "FROM okr_claim_due_integrations(:now, :sources, :limit)"
            ),
            {"now": now, "sources": list(sources), "limit": limit},
        ).all()
    else:
        table = cast(Table, Integration.__table__)
        tenants = cast(Table, Tenant.__table__)
        stmt = (
            select(
                table.c.id,
                table.c.tenant_id,
                table.c.source,
                table.c.sync_requested_at,
                table.c.sync_interval_minutes,
            )
            .join(tenants, tenants.c.id == table.c.tenant_id)
            .where(
                tenants.c.status == TenantStatus.active.value,
                table.c.is_paused.is_(False),
                table.c.source.in_(list(sources)),
                or_(table.c.next_sync_at.is_(None), table.c.next_sync_at <= now),
            )
            .order_by(
                table.c.sync_requested_at.is_(None),
                table.c.next_sync_at.is_not(None),
                table.c.next_sync_at,
                table.c.id,
            )
            .limit(limit)
        )
        rows = session.execute(stmt).all()
        if rows:
            session.execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(next_sync_at=bindparam("due")),
                [{"row_id": r[0], "due": now + timedelta(minutes=int(r[4]))} for r in rows],
            )
    claimed = [DueIntegration(_uuid(r[0]), _uuid(r[1]), str(r[2]), _aware(r[3])) for r in rows]
    return sorted(claimed, key=lambda d: (d.source, str(d.tenant_id), str(d.integration_id)))


def clear_sync_request(
    session: Session, *, integration_id: uuid.UUID, requested_at: datetime
) -> bool:
    """The sync asked for at ``requested_at`` starts: clear that request in the session's
    tenant. A newer press (after the claim) is left in place, so it gets its own sync."""
    require_tenant(session)
    result = session.execute(
        update(Integration)
        .where(
            Integration.id == integration_id,
            Integration.sync_requested_at.is_not(None),
            Integration.sync_requested_at <= requested_at,
        )
        .values(sync_requested_at=None)
    )
    return bool(getattr(result, "rowcount", 0))


def queued_webhook_events(
    session: Session, *, after_id: int, now: datetime, limit: int
) -> list[QueuedEvent]:
    """Unprocessed events after ``after_id`` (plus stragglers), of integrations not paused."""
    stale_before = now - STRAGGLER_AGE
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT event_id, tenant_id, integration_id, source "
                "FROM okr_queued_webhook_events(:after_id, :stale_before, :limit)"
            ),
            {"after_id": after_id, "stale_before": stale_before, "limit": limit},
        ).all()
    else:
        events = cast(Table, WebhookEvent.__table__)
        table = cast(Table, Integration.__table__)
        rows = session.execute(
            select(events.c.id, events.c.tenant_id, events.c.integration_id, table.c.source)
            .join(table, and_(table.c.id == events.c.integration_id, table.c.is_paused.is_(False)))
            .where(
                events.c.processed_at.is_(None),
                or_(events.c.id > after_id, events.c.received_at < stale_before),
            )
            .order_by(events.c.id)
            .limit(limit)
        ).all()
    return [QueuedEvent(int(r[0]), _uuid(r[1]), _uuid(r[2]), str(r[3])) for r in rows]


def mark_events_processed(
    session: Session, *, integration_id: uuid.UUID, up_to_id: int, at: datetime
) -> int:
    """Mark the session tenant's queued events of an integration up to an id as processed."""
    require_tenant(session)
    result = session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.integration_id == integration_id,
            WebhookEvent.id <= up_to_id,
            WebhookEvent.processed_at.is_(None),
        )
        .values(processed_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def batches(items: Sequence[DueIntegration], size: int = BATCH_SIZE) -> list[list[DueIntegration]]:
    """Split per source into batches of at most ``size``, keeping a tenant's integrations of
    one source together where the size allows."""
    by_source: dict[str, list[DueIntegration]] = defaultdict(list)
    for item in items:
        by_source[item.source].append(item)
    out: list[list[DueIntegration]] = []
    for source in sorted(by_source):
        group = by_source[source]
        for start in range(0, len(group), size):
            out.append(group[start : start + size])
    return out


def tenants_of(items: Iterable[DueIntegration]) -> list[uuid.UUID]:
    return list(dict.fromkeys(item.tenant_id for item in items))
