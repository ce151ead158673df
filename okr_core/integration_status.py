"""How each integration of the tenant is doing, computed from its sync-run rows.

Per integration: the last attempt (the latest run's start) and what triggered it (schedule,
webhook, manual for "Sync now", backfill), the last success (when the latest successful run
finished), the next scheduled sync (``None`` while paused), a pending "Sync now" request, the
success rate over the last 24 hours and 7 days, and the last error (class and message of the
latest failed run).

A success rate is succeeded / finished runs started inside the window; runs still running do not
count, and a window without finished runs has no rate (``None``) rather than a made-up 0 or 100 %.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from okr_core.models import ErrorClass, Integration, Source, SyncRun, SyncStatus, SyncTrigger
from okr_core.tenancy import require_tenant

DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SuccessRate:
    succeeded: int
    finished: int

    @property
    def rate(self) -> float | None:
        """Between 0 and 1, or None when nothing finished in the window."""
        return self.succeeded / self.finished if self.finished else None


@dataclass(frozen=True, slots=True)
class LastError:
    error_class: ErrorClass | None
    message: str
    occurred_at: datetime
    trigger: SyncTrigger


@dataclass(frozen=True, slots=True)
class IntegrationStatus:
    integration_id: uuid.UUID
    source: Source
    name: str
    is_paused: bool
    sync_interval_minutes: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    next_sync_at: datetime | None
    running: bool
    success_24h: SuccessRate
    success_7d: SuccessRate
    last_error: LastError | None
    # What started the latest sync run (None before the first one).
    last_trigger: SyncTrigger | None = None
    # "Sync now" was pressed at this instant and that sync has not started yet.
    sync_requested_at: datetime | None = None

    @property
    def healthy(self) -> bool:
        """No error since the last success."""
        if self.last_error is None:
            return True
        return self.last_success_at is not None and self.last_success_at >= (
            self.last_error.occurred_at
        )


def integration_statuses(
    session: Session, *, now: datetime | None = None, integration_id: uuid.UUID | None = None
) -> list[IntegrationStatus]:
    """The status of every integration of the tenant (or of one), ordered by source and name."""
    require_tenant(session)
    now = now or datetime.now(UTC)
    stmt = select(Integration).order_by(Integration.source, Integration.name)
    if integration_id is not None:
        stmt = stmt.where(Integration.id == integration_id)
    integrations = session.scalars(stmt).all()
    if not integrations:
        return []
    ids = [integration.id for integration in integrations]
    aggregates = _aggregates(session, ids, now=now)
    errors = _last_errors(session, ids)
    triggers = _last_triggers(session, ids)
    return [
        _status(
            integration,
            aggregates.get(integration.id),
            errors.get(integration.id),
            now,
            last_trigger=triggers.get(integration.id),
        )
        for integration in integrations
    ]


@dataclass(frozen=True, slots=True)
class _Aggregate:
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    running: int
    succeeded_24h: int
    finished_24h: int
    succeeded_7d: int
    finished_7d: int


def _aggregates(
    session: Session, ids: Sequence[uuid.UUID], *, now: datetime
) -> dict[uuid.UUID, _Aggregate]:
    day_ago, week_ago = now - DAY, now - WEEK
    succeeded = SyncRun.status == SyncStatus.succeeded
    finished = SyncRun.status.in_([SyncStatus.succeeded, SyncStatus.failed])

    def count(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)

    stmt = (
        select(
            SyncRun.integration_id,
            func.max(SyncRun.started_at),
            func.max(case((succeeded, func.coalesce(SyncRun.finished_at, SyncRun.started_at)))),
            count(SyncRun.status == SyncStatus.running),
            count(succeeded, SyncRun.started_at >= day_ago),
            count(finished, SyncRun.started_at >= day_ago),
            count(succeeded, SyncRun.started_at >= week_ago),
            count(finished, SyncRun.started_at >= week_ago),
        )
        .where(SyncRun.integration_id.in_(ids))
        .group_by(SyncRun.integration_id)
    )
    result: dict[uuid.UUID, _Aggregate] = {}
    for row in session.execute(stmt):
        result[row[0]] = _Aggregate(
            last_attempt_at=_aware(row[1]),
            last_success_at=_aware(row[2]),
            running=int(row[3]),
            succeeded_24h=int(row[4]),
            finished_24h=int(row[5]),
            succeeded_7d=int(row[6]),
            finished_7d=int(row[7]),
        )
    return result


def _last_errors(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, LastError]:
    latest = (
        select(SyncRun.integration_id, func.max(SyncRun.started_at).label("started_at"))
        .where(SyncRun.integration_id.in_(ids), SyncRun.status == SyncStatus.failed)
        .group_by(SyncRun.integration_id)
        .subquery()
    )
    stmt = select(SyncRun).join(
        latest,
        and_(
            SyncRun.integration_id == latest.c.integration_id,
            SyncRun.started_at == latest.c.started_at,
        ),
    )
    result: dict[uuid.UUID, LastError] = {}
    for run in session.scalars(stmt).all():
        if run.status is not SyncStatus.failed:
            continue
        result[run.integration_id] = LastError(
            error_class=run.error_class,
            message=run.message or "the sync failed without a message",
            occurred_at=run.finished_at or run.started_at,
            trigger=run.trigger,
        )
    return result


def _last_triggers(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SyncTrigger]:
    """The trigger of each integration's latest sync run (by start, then id on a tie)."""
    ranked = (
        select(
            SyncRun.integration_id,
            SyncRun.trigger,
            func.row_number()
            .over(
                partition_by=SyncRun.integration_id,
                order_by=(SyncRun.started_at.desc(), SyncRun.id.desc()),
            )
            .label("rank"),
        )
        .where(SyncRun.integration_id.in_(ids))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.integration_id, ranked.c.trigger).where(ranked.c.rank == 1)
    ).all()
    return {row[0]: SyncTrigger(row[1]) for row in rows}


def _status(
    integration: Integration,
    aggregate: _Aggregate | None,
    last_error: LastError | None,
    now: datetime,
    *,
    last_trigger: SyncTrigger | None = None,
) -> IntegrationStatus:
    last_attempt = aggregate.last_attempt_at if aggregate else None
    last_success = aggregate.last_success_at if aggregate else None
    # The integration row caches the same facts; trust whichever is later.
    last_attempt = _latest(last_attempt, integration.last_attempt_at)
    last_success = _latest(last_success, integration.last_success_at)
    if last_error is None and integration.last_error_message:
        last_error = LastError(
            error_class=_error_class(integration.last_error_class),
            message=integration.last_error_message,
            occurred_at=integration.last_attempt_at or integration.updated_at,
            trigger=SyncTrigger.schedule,
        )
    return IntegrationStatus(
        integration_id=integration.id,
        source=integration.source,
        name=integration.name,
        is_paused=integration.is_paused,
        sync_interval_minutes=integration.sync_interval_minutes,
        last_attempt_at=last_attempt,
        last_success_at=last_success,
        next_sync_at=_next_sync(integration, last_attempt, now),
        running=bool(aggregate and aggregate.running),
        success_24h=SuccessRate(
            aggregate.succeeded_24h if aggregate else 0, aggregate.finished_24h if aggregate else 0
        ),
        success_7d=SuccessRate(
            aggregate.succeeded_7d if aggregate else 0, aggregate.finished_7d if aggregate else 0
        ),
        last_error=last_error,
        last_trigger=last_trigger,
        sync_requested_at=None if integration.is_paused else integration.sync_requested_at,
    )


def _next_sync(
    integration: Integration, last_attempt: datetime | None, now: datetime
) -> datetime | None:
    if integration.is_paused:
        return None
    if integration.next_sync_at is not None:
        return integration.next_sync_at
    if last_attempt is None:
        return now
    return last_attempt + timedelta(minutes=integration.sync_interval_minutes)


def _latest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates bypass the column type on SQLite: make them aware UTC datetimes again."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _error_class(value: str | None) -> ErrorClass | None:
    try:
        return ErrorClass(value) if value else None
    except ValueError:
        return None
