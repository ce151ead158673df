"""One sync of a batch of tenants: each tenant's integrations, then its key-result values.

This is the body of the batched Dagster run, kept free of Dagster so it is testable alone:

- tenants run in a thread pool (the work is mostly waiting on HTTP); each tenant runs alone, so
  one tenant's failure, retries or slowness never fails another and holds only its own thread;
- per tenant: every listed integration is synced (:func:`okr_core.extraction.sync_integration`,
  with the one per-request retry layer inside), then the values of what those syncs can change
  are recomputed and written in one unit of work: the bindings of the integrations that synced,
  through the SQL models their marts need over their sources' files only (the other sources'
  staging models are given as empty relations and not run), skipped altogether when each
  integration's inputs fingerprint (its source's base and delta files, its bindings, the day)
  is unchanged. Other integrations' check-ins are never touched. The models' outputs are not
  written (they hold some bindings only); stale materialised outputs are removed instead;
- the caller gets one :class:`TenantOutcome` per tenant as soon as it is done (to record
  per-tenant events), and decides what a failed tenant means for the batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from okr_core.binding_values import (
    LANDED_TABLES,
    VALUES_MODEL,
    BindingSpec,
    compute,
    tenant_specs,
    warehouse_sources,
)
from okr_core.db_units import unit
from okr_core.extraction import SyncResult, sync_integration
from okr_core.kr_values import TenantValues, write_values
from okr_core.models import SyncTrigger
from okr_core.secrets import CredentialCipher
from okr_core.sources.retry import RetryPolicy
from okr_core.sync_schedule import clear_sync_request, mark_events_processed
from okr_core.tenancy import bind_tenant
from okr_core.value_checks import CheckOutcome, evaluate
from okr_core.warehouse import model_path, table_files, tenant_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One integration to sync; ``event_up_to`` marks webhook events up to that id processed;
    ``sync_requested_at`` is the "Sync now" request this sync serves (recorded as manual)."""

    tenant_id: uuid.UUID
    integration_id: uuid.UUID
    event_up_to: int = 0
    sync_requested_at: datetime | None = None


@dataclass
class TenantOutcome:
    tenant_id: uuid.UUID
    syncs: list[SyncResult] = field(default_factory=list)
    values: TenantValues | None = None
    values_unchanged: bool = False
    checks: list[CheckOutcome] = field(default_factory=list)
    values_error: str | None = None
    computed_at: datetime | None = None
    duration_seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.values_error is not None or any(not s.succeeded for s in self.syncs)

    def failure_summary(self) -> dict[str, Any]:
        """What the run-failure sensor needs: secret-free messages per failed integration."""
        return {
            "tenant_id": str(self.tenant_id),
            "integrations": [
                {
                    "integration_id": str(s.integration_id),
                    "source": s.source,
                    "error_class": s.error_class.value if s.error_class else None,
                    "message": s.message,
                }
                for s in self.syncs
                if not s.succeeded
            ],
            "values_error": self.values_error,
        }


FINGERPRINT_DIR = "_inputs"


def inputs_fingerprint(
    warehouse_dir: Path,
    tenant_id: uuid.UUID,
    specs: Sequence[BindingSpec],
    day: date,
    *,
    source: str | None = None,
) -> str:
    """What the values of ``specs`` depend on: the landed files of their source (each table's
    base file and its pending delta files: identity, modification time and size), the bindings
    as the models see them, and the day (today's row changes with the date).

    ``source`` limits the files to that source's tables (one integration's bindings read only
    them); without it every landed table counts.
    """
    files = []
    for table in LANDED_TABLES:
        if source is not None and table.source != source:
            continue
        entry: list[Any] = [table.entity]
        for path in table_files(table.path(warehouse_dir, tenant_id)):
            try:
                stat = path.stat()
            except FileNotFoundError:  # compacted meanwhile: the next sync sees the new base
                continue
            entry.append([path.name, stat.st_ino, stat.st_mtime_ns, stat.st_size])
        files.append(entry)
    document = {
        "day": day.isoformat(),
        "files": files,
        "bindings": [
            {k: (str(v) if isinstance(v, date) else v) for k, v in spec.row().items()}
            for spec in specs
        ],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _fingerprint_path(warehouse_dir: Path, tenant_id: uuid.UUID, integration_id: uuid.UUID) -> Path:
    return (
        tenant_dir(warehouse_dir, tenant_id) / "models" / FINGERPRINT_DIR / f"{integration_id}.json"
    )


def _stored_fingerprint(
    warehouse_dir: Path, tenant_id: uuid.UUID, integration_id: uuid.UUID
) -> str | None:
    path = _fingerprint_path(warehouse_dir, tenant_id, integration_id)
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None


def _store_fingerprint(
    warehouse_dir: Path, tenant_id: uuid.UUID, integration_id: uuid.UUID, fingerprint: str
) -> None:
    path = _fingerprint_path(warehouse_dir, tenant_id, integration_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")
    os.replace(tmp, path)


def _forget_model_outputs(warehouse_dir: Path, tenant_id: uuid.UUID, names: Sequence[str]) -> None:
    """Remove the materialised outputs of models whose inputs just changed: a model asset
    reads its parents' outputs where they exist, so a stale one must not stay behind (absent
    ones are computed in memory)."""
    for name in names:
        model_path(warehouse_dir, tenant_id, name).unlink(missing_ok=True)


@contextmanager
def tenant_unit(factory: sessionmaker[Session], tenant_id: uuid.UUID) -> Iterator[Session]:
    """One unit of work (:func:`okr_core.db_units.unit`) bound to a tenant from its start.

    The session is closed afterwards, so the tenant is never unbound: on PostgreSQL that saves
    the round trip that resetting ``okr.tenant_id`` just before the commit would cost.
    """
    with unit(factory) as session:
        bind_tenant(session, tenant_id)
        yield session


def group_by_tenant(items: Sequence[BatchItem]) -> dict[uuid.UUID, list[BatchItem]]:
    grouped: dict[uuid.UUID, list[BatchItem]] = defaultdict(list)
    for item in items:
        grouped[item.tenant_id].append(item)
    return dict(grouped)


def sync_tenant(
    factory: sessionmaker[Session],
    *,
    tenant_id: uuid.UUID,
    items: Sequence[BatchItem],
    cipher: CredentialCipher,
    warehouse_dir: Path,
    trigger: SyncTrigger,
    retry: RetryPolicy | None = None,
    dagster_run_id: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> TenantOutcome:
    started = clock()
    outcome = TenantOutcome(tenant_id=tenant_id)
    for item in items:
        item_trigger = trigger
        if item.sync_requested_at is not None:
            # "Sync now": this sync serves the request, whatever the run's trigger.
            item_trigger = SyncTrigger.manual
            with tenant_unit(factory, tenant_id) as session:
                clear_sync_request(
                    session,
                    integration_id=item.integration_id,
                    requested_at=item.sync_requested_at,
                )
        outcome.syncs.append(
            sync_integration(
                factory,
                tenant_id=tenant_id,
                integration_id=item.integration_id,
                cipher=cipher,
                warehouse_dir=warehouse_dir,
                trigger=item_trigger,
                retry=retry,
                dagster_run_id=dagster_run_id,
                clock=clock,
            )
        )
    computed_at = clock()
    # Webhook events are consumed by this attempt whatever its outcome: a failure is recorded
    # and the next scheduled sync retries, so a broken integration never loops on its events.
    _mark_processed(factory, tenant_id, items, at=computed_at)
    if not any(s.succeeded for s in outcome.syncs):
        # Nothing new landed: the values stay as they are.
        outcome.duration_seconds = (clock() - started).total_seconds()
        return outcome
    try:
        # Only what this attempt's syncs can change: the bindings of the integrations that
        # synced, over their sources' tables. The other sources' bindings keep their values
        # (their files did not change) and their models are not run.
        synced = {s.integration_id: s.source for s in outcome.syncs if s.succeeded}
        # Read, compute, write: the models run outside any transaction, so the database is
        # held for milliseconds, not for the computation.
        with tenant_unit(factory, tenant_id) as session:
            specs = tenant_specs(session, integration_ids=list(synced), synced_only=True)
        fingerprints = {
            integration_id: inputs_fingerprint(
                warehouse_dir,
                tenant_id,
                [spec for spec in specs if spec.integration_id == str(integration_id)],
                computed_at.date(),
                source=source,
            )
            for integration_id, source in synced.items()
        }
        changed = {
            integration_id
            for integration_id, fingerprint in fingerprints.items()
            if fingerprint != _stored_fingerprint(warehouse_dir, tenant_id, integration_id)
        }
        specs = [spec for spec in specs if uuid.UUID(spec.integration_id) in changed]
        if not specs:
            # Same landed files, same bindings, same day (or no bindings): the values would
            # come out the same.
            for integration_id in changed:
                _store_fingerprint(
                    warehouse_dir, tenant_id, integration_id, fingerprints[integration_id]
                )
            outcome.values_unchanged = True
            outcome.duration_seconds = (clock() - started).total_seconds()
            return outcome
        sources = {spec.source for spec in specs}
        row_counts: dict[str, int] = {}
        outputs = compute(
            sources=warehouse_sources(warehouse_dir, tenant_id, only=sources),
            specs=specs,
            as_of=computed_at,
            only_sources=sources,
            fetch=(VALUES_MODEL,),  # all the values write and the checks read
            row_counts=row_counts,
        )
        # The outputs hold only these bindings' rows, not the tenant's models' outputs: nothing
        # is written, stale materialised ones go (a model asset recomputes them when asked).
        _forget_model_outputs(warehouse_dir, tenant_id, list(row_counts))
        with tenant_unit(factory, tenant_id) as session:
            written = write_values(
                session, values=outputs[VALUES_MODEL], specs=specs, computed_at=computed_at
            )
            outcome.values = TenantValues(
                outputs=outputs, written=written, specs=specs, row_counts=row_counts
            )
            outcome.checks = evaluate(session, outcome.values, now=computed_at)
        outcome.computed_at = computed_at
        for integration_id in changed:
            _store_fingerprint(
                warehouse_dir, tenant_id, integration_id, fingerprints[integration_id]
            )
    except Exception as exc:  # one tenant's broken data must not stop the batch
        log.exception("tenant %s: computing key-result values failed", tenant_id)
        outcome.values_error = f"computing key-result values failed ({type(exc).__name__})"
    outcome.duration_seconds = (clock() - started).total_seconds()
    return outcome


def _mark_processed(
    factory: sessionmaker[Session],
    tenant_id: uuid.UUID,
    items: Sequence[BatchItem],
    *,
    at: datetime,
) -> None:
    marked = [item for item in items if item.event_up_to]
    if not marked:
        return
    with tenant_unit(factory, tenant_id) as session:
        for item in marked:
            mark_events_processed(
                session, integration_id=item.integration_id, up_to_id=item.event_up_to, at=at
            )


def run_batch(
    factory: sessionmaker[Session],
    *,
    items: Sequence[BatchItem],
    cipher: CredentialCipher,
    warehouse_dir: Path,
    trigger: SyncTrigger,
    retry: RetryPolicy | None = None,
    dagster_run_id: str | None = None,
    max_workers: int = 16,
) -> Iterator[TenantOutcome]:
    """Sync the batch's tenants concurrently; yields each tenant's outcome when it is done.

    Infrastructure errors (the app database is unreachable) propagate and fail the batch.
    """
    grouped = group_by_tenant(items)
    if not grouped:
        return
    workers = max(1, min(max_workers, len(grouped)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tenant-sync") as pool:
        futures: dict[Future[TenantOutcome], uuid.UUID] = {
            pool.submit(
                sync_tenant,
                factory,
                tenant_id=tenant_id,
                items=tenant_items,
                cipher=cipher,
                warehouse_dir=warehouse_dir,
                trigger=trigger,
                retry=retry,
                dagster_run_id=dagster_run_id,
            ): tenant_id
            for tenant_id, tenant_items in grouped.items()
        }
        for future in as_completed(futures):
            yield future.result()
