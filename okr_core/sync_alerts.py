"""What happens in the app when a batched sync run failed: records and admin notifications.

The run-failure sensor calls :func:`record_failed_run` with the failed tenants (from the run's
``Failure`` metadata, or every tenant of the run when the run crashed before it could say).
Per tenant, in that tenant's context:

- sync runs of that Dagster run still marked ``running`` (the worker died mid-sync) become
  ``failed`` with a secret-free message, and the integration's last error says so (each
  attempt's outcome is already a ``sync_runs`` row: what ``GET /api/v1/integrations/status``
  and the admin page show);
- the tenant's admins get one notification per failed integration (``integration.sync_failed``,
  with the secret-free message). While an identical notification is still unread, a repeat of
  the same error is not notified again, so an hourly 401 does not flood the inbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from okr_core.db_units import unit
from okr_core.models import ErrorClass, Integration, Notification, SyncRun, SyncStatus
from okr_core.notifications import notify
from okr_core.tenancy import require_tenant, tenant_context

MESSAGE_LIMIT = 1000


SYNC_FAILED_KIND = "integration.sync_failed"


@dataclass(frozen=True, slots=True)
class FailedIntegration:
    integration_id: uuid.UUID
    error_class: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class FailedTenant:
    tenant_id: uuid.UUID
    integrations: tuple[FailedIntegration, ...] = ()


def close_runs_of(
    session: Session, *, dagster_run_id: str, message: str, now: datetime
) -> list[uuid.UUID]:
    """Mark the session tenant's sync runs of a Dagster run that are still running as failed;
    returns the integrations concerned."""
    require_tenant(session)
    stuck = list(
        session.scalars(
            select(SyncRun).where(
                SyncRun.dagster_run_id == dagster_run_id, SyncRun.status == SyncStatus.running
            )
        )
    )
    text = message[:MESSAGE_LIMIT]
    for run in stuck:
        run.status = SyncStatus.failed
        run.finished_at = now
        run.error_class = ErrorClass.transient
        run.message = text
    integration_ids = list(dict.fromkeys(run.integration_id for run in stuck))
    if integration_ids:
        session.execute(
            update(Integration)
            .where(Integration.id.in_(integration_ids))
            .values(last_error_class=ErrorClass.transient.value, last_error_message=text)
        )
    return integration_ids


def notify_sync_failure(
    session: Session,
    *,
    integration_id: uuid.UUID,
    message: str,
    error_class: str | None,
    dagster_run_id: str | None,
) -> Notification | None:
    """Tell the session tenant's admins that an integration's sync failed (see the module)."""
    require_tenant(session)
    integration = session.scalars(
        select(Integration).where(Integration.id == integration_id)
    ).one_or_none()
    if integration is None:
        return None
    text = message[:MESSAGE_LIMIT]
    pending = session.scalars(
        select(Notification).where(
            Notification.kind == SYNC_FAILED_KIND,
            Notification.subject_id == integration_id,
            Notification.read_at.is_(None),
        )
    ).all()
    if any(n.body == text for n in pending):
        return None
    return notify(
        session,
        kind=SYNC_FAILED_KIND,
        title=f"{integration.name}: the {integration.source} sync failed",
        body=text,
        data={
            "integration_id": str(integration_id),
            "source": str(integration.source),
            "error_class": error_class,
            "dagster_run_id": dagster_run_id,
        },
        subject_type="integration",
        subject_id=integration_id,
    )


def record_failed_run(
    factory: sessionmaker[Session],
    *,
    tenants: Iterable[FailedTenant],
    dagster_run_id: str,
    reason: str,
    now: datetime,
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Close what the failed run left open and notify each tenant's admins; returns the
    integrations notified per tenant."""
    notified: dict[uuid.UUID, list[uuid.UUID]] = {}
    crash_message = f"the sync run failed before finishing: {reason}"
    for tenant in tenants:
        with unit(factory) as session, tenant_context(session, tenant.tenant_id):
            closed = close_runs_of(
                session, dagster_run_id=dagster_run_id, message=crash_message, now=now
            )
            failures = {f.integration_id: f for f in tenant.integrations}
            for integration_id in closed:
                failures.setdefault(
                    integration_id,
                    FailedIntegration(integration_id, ErrorClass.transient.value, crash_message),
                )
            notified[tenant.tenant_id] = []
            for failure in failures.values():
                sent = notify_sync_failure(
                    session,
                    integration_id=failure.integration_id,
                    message=failure.message or crash_message,
                    error_class=failure.error_class,
                    dagster_run_id=dagster_run_id,
                )
                if sent is not None:
                    notified[tenant.tenant_id].append(failure.integration_id)
    return notified
