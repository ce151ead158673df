"""Sensors of the code location.

``sync_due_sensor`` claims due integrations and requests one batched run per source per 100
tenants; ``webhook_events_sensor`` does the same at once for queued webhook events (cursor: the
last event id); ``sync_failure_sensor`` notifies the admins of every tenant that a failed
batch run affected.

``tenant_partitions_sensor`` keeps the ``tenant`` dynamic partitions equal to the active tenants
of the app database, so a new tenant can be materialised (and backfilled) within one tick and a
suspended or deleted tenant stops being offered. It targets no job: it only returns dynamic
partition requests, which the daemon applies after the evaluation.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AddDynamicPartitionsRequest,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    RunConfig,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from okr_core.models import SyncTrigger
from okr_core.sync_alerts import FailedIntegration, FailedTenant, record_failed_run
from okr_core.sync_schedule import (
    BATCH_SIZE,
    SYNC_SOURCES,
    DueIntegration,
    batches,
    claim_due_integrations,
    queued_webhook_events,
)
from okr_core.tenants import active_tenant_ids
from okr_pipelines.jobs import BatchItemConfig, SyncBatchConfig, sync_batch_job
from okr_pipelines.partitions import TENANT_PARTITIONS_NAME, tenant_partitions
from okr_pipelines.resources import AppDatabase

PartitionsRequest = AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest


def tenant_partition_requests(
    existing: Iterable[str], wanted: Iterable[str]
) -> list[PartitionsRequest]:
    """At most one bulk add and one bulk delete that turn ``existing`` into ``wanted``.

    Bulk requests matter: the daemon writes each request in one call, while one call per key
    costs milliseconds each at thousands of tenants. Empty requests are left out.
    """
    existing_keys = set(existing)
    wanted_keys = list(dict.fromkeys(wanted))
    to_add = [key for key in wanted_keys if key not in existing_keys]
    to_delete = sorted(existing_keys - set(wanted_keys))
    requests: list[PartitionsRequest] = []
    if to_add:
        requests.append(tenant_partitions.build_add_request(to_add))
    if to_delete:
        requests.append(tenant_partitions.build_delete_request(to_delete))
    return requests


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Keeps the tenant partitions equal to the active tenants of the app database.",
)
def tenant_partitions_sensor(
    context: SensorEvaluationContext, app_db: AppDatabase
) -> SensorResult | SkipReason:
    """Add partitions for new active tenants and delete those of suspended or removed ones."""
    with app_db.session() as session:
        wanted = [str(tenant_id) for tenant_id in active_tenant_ids(session)]
    existing: Sequence[str] = context.instance.get_dynamic_partitions(TENANT_PARTITIONS_NAME)
    requests = tenant_partition_requests(existing, wanted)
    if not requests:
        return SkipReason(f"tenant partitions already match the {len(wanted)} active tenants")
    for request in requests:
        verb = "adding" if isinstance(request, AddDynamicPartitionsRequest) else "deleting"
        context.log.info(f"{verb} {len(request.partition_keys)} tenant partition(s)")
    return SensorResult(dynamic_partitions_requests=requests)


# -- source syncs -------------------------------------------------------------------------------

MAX_DUE_PER_TICK = 2_000  # 20 runs of 100 tenants per source and tick at most
MAX_EVENTS_PER_TICK = 5_000


def batch_run_request(
    items: Sequence[DueIntegration] | Sequence[tuple[DueIntegration, int]],
    *,
    source: str,
    trigger: SyncTrigger,
    run_key: str,
) -> RunRequest:
    """One run of ``sync_batch_job`` for a batch of integrations of one source."""
    configs = []
    for entry in items:
        due, event_up_to = entry if isinstance(entry, tuple) else (entry, 0)
        configs.append(
            BatchItemConfig(
                tenant_id=str(due.tenant_id),
                integration_id=str(due.integration_id),
                event_up_to=event_up_to,
                sync_requested_at=(
                    due.sync_requested_at.isoformat() if due.sync_requested_at else None
                ),
            )
        )
    tenants = len({c.tenant_id for c in configs})
    return RunRequest(
        run_key=run_key,
        run_config=RunConfig(
            ops={"sync_batch": SyncBatchConfig(source=source, trigger=trigger.value, items=configs)}
        ),
        tags={
            "okr/source": source,
            "okr/trigger": trigger.value,
            "okr/tenants": str(tenants),
            "okr/integrations": str(len(configs)),
        },
    )


def due_run_requests(due: Sequence[DueIntegration], *, stamp: str) -> list[RunRequest]:
    """Batched run requests for claimed integrations: "sync now" requests in runs of their
    own (trigger ``manual``, small, so the admin waits for a few tenants rather than a hundred),
    the rest in scheduled runs; one source per run, at most :data:`BATCH_SIZE` per run."""
    requests = []
    for trigger in (SyncTrigger.manual, SyncTrigger.schedule):
        group = [d for d in due if d.manual == (trigger is SyncTrigger.manual)]
        for index, batch in enumerate(batches(group, BATCH_SIZE)):
            source = batch[0].source
            requests.append(
                batch_run_request(
                    batch,
                    source=source,
                    trigger=trigger,
                    run_key=f"{trigger.value}:{source}:{stamp}:{index}",
                )
            )
    return requests


@sensor(
    job=sync_batch_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        'Claims integrations whose sync interval has passed or whose admin pressed "Sync '
        'now", and requests one run per source per batch of up to 100 tenants (trigger '
        "manual for the requested ones, schedule for the rest)."
    ),
)
def sync_due_sensor(
    context: SensorEvaluationContext, app_db: AppDatabase
) -> SensorResult | SkipReason:
    now = datetime.now(UTC)
    with app_db.session() as session:
        due = claim_due_integrations(session, now=now, limit=MAX_DUE_PER_TICK)
    if not due:
        return SkipReason("no integration is due")
    requests = due_run_requests(due, stamp=now.strftime("%Y%m%dT%H%M%S%f"))
    manual = sum(d.manual for d in due)
    context.log.info(
        f'{len(due)} due integration(s) ({manual} requested by "Sync now") -> '
        f"{len(requests)} run request(s)"
    )
    return SensorResult(run_requests=requests)


@sensor(
    job=sync_batch_job,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Turns queued, signature-verified webhook events into a sync run for their tenants "
        "(cursor: the last event id seen)."
    ),
)
def webhook_events_sensor(
    context: SensorEvaluationContext, app_db: AppDatabase
) -> SensorResult | SkipReason:
    cursor = int(context.cursor or 0)
    now = datetime.now(UTC)
    with app_db.session() as session:
        events = queued_webhook_events(session, after_id=cursor, now=now, limit=MAX_EVENTS_PER_TICK)
    if not events:
        return SkipReason("no queued webhook events")
    latest: dict[uuid.UUID, tuple[DueIntegration, int]] = {}
    for event in events:
        if event.source not in SYNC_SOURCES:
            continue
        due = DueIntegration(event.integration_id, event.tenant_id, event.source)
        previous = latest.get(event.integration_id)
        latest[event.integration_id] = (due, max(event.event_id, previous[1] if previous else 0))
    first, last = events[0].event_id, events[-1].event_id
    if not latest:  # events of sources that do not sync: nothing to run, move past them
        return SensorResult(run_requests=[], cursor=str(max(cursor, last)))
    requests = []
    by_source: dict[str, list[tuple[DueIntegration, int]]] = {}
    for entry in latest.values():
        by_source.setdefault(entry[0].source, []).append(entry)
    for source in sorted(by_source):
        group = by_source[source]
        for index in range(0, len(group), BATCH_SIZE):
            requests.append(
                batch_run_request(
                    group[index : index + BATCH_SIZE],
                    source=source,
                    trigger=SyncTrigger.webhook,
                    run_key=f"webhook:{source}:{first}-{last}:{index // BATCH_SIZE}",
                )
            )
    context.log.info(f"{len(events)} webhook event(s) -> {len(requests)} run request(s)")
    return SensorResult(run_requests=requests, cursor=str(max(cursor, last)))


def failed_tenants_of(instance: DagsterInstance, run_id: str) -> list[FailedTenant] | None:
    """The failed tenants the batch step reported, or None when the run failed otherwise."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        data = event.step_failure_data if event is not None else None
        user = data.user_failure_data if data is not None else None
        entry = user.metadata.get("failed_tenants") if user is not None else None
        if entry is None:
            continue
        value: Any = entry.value if hasattr(entry, "value") else entry
        return [
            FailedTenant(
                tenant_id=uuid.UUID(t["tenant_id"]),
                integrations=tuple(
                    FailedIntegration(
                        uuid.UUID(i["integration_id"]), i.get("error_class"), i.get("message")
                    )
                    for i in t.get("integrations", [])
                ),
            )
            for t in value
        ]
    return None


def tenants_in_run_config(run_config: Mapping[str, Any]) -> list[FailedTenant]:
    items = run_config.get("ops", {}).get("sync_batch", {}).get("config", {}).get("items", [])
    grouped: dict[str, list[FailedIntegration]] = {}
    for item in items:
        grouped.setdefault(item["tenant_id"], []).append(
            FailedIntegration(uuid.UUID(item["integration_id"]))
        )
    return [FailedTenant(uuid.UUID(t), tuple(failed)) for t, failed in grouped.items()]


@run_failure_sensor(
    monitored_jobs=[sync_batch_job],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "When a batched sync run fails, notifies each affected tenant's admins and closes "
        "the sync runs the run left running."
    ),
)
def sync_failure_sensor(context: RunFailureSensorContext, app_db: AppDatabase) -> None:
    run = context.dagster_run
    reported = failed_tenants_of(context.instance, run.run_id)
    tenants = reported if reported is not None else tenants_in_run_config(run.run_config)
    reason = (context.failure_event.message or "the run failed")[:300]
    notified = record_failed_run(
        app_db.factory,
        tenants=tenants,
        dagster_run_id=run.run_id,
        reason=reason,
        now=datetime.now(UTC),
    )
    context.log.info(
        f"run {run.run_id}: {len(tenants)} failed tenant(s), "
        f"{sum(len(v) for v in notified.values())} admin notification(s)"
    )
