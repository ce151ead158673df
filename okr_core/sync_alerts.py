"""What happens in the app when a batched sync run failed: the record is made right.

The run-failure sensor calls :func:`record_failed_run` with the failed tenants (from the run's
``Failure`` metadata, or every tenant of the run when the run crashed before it could say).
Per tenant, in that tenant's context:

- sync runs of that Dagster run still marked ``running`` (the worker died mid-sync) become
  ``failed`` with a secret-free message, and the integration's last error says so;
- the failure itself is already recorded per attempt in ``sync_runs`` (class and message),
  which is what ``GET /api/v1/integrations/status`` and the admin page show.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from okr_core.db.engine import unit_of_work
from okr_core.models import ErrorClass, Integration, SyncRun, SyncStatus
from okr_core.tenancy import require_tenant, tenant_context

MESSAGE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class FailedTenant:
    tenant_id: uuid.UUID
    integration_ids: tuple[uuid.UUID, ...] = ()


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


def record_failed_run(
    factory: sessionmaker[Session],
    *,
    tenants: Iterable[FailedTenant],
    dagster_run_id: str,
    reason: str,
    now: datetime,
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Close what the failed run left open, tenant by tenant; returns the integrations closed."""
    closed: dict[uuid.UUID, list[uuid.UUID]] = {}
    message = f"the sync run failed before finishing: {reason}"
    for tenant in tenants:
        with unit_of_work(factory) as session, tenant_context(session, tenant.tenant_id):
            closed[tenant.tenant_id] = close_runs_of(
                session, dagster_run_id=dagster_run_id, message=message, now=now
            )
    return closed
