"""``sync_batch_job``: one run syncs one source for a batch of up to 100 tenants.

A Dagster run costs a process start (about 2.5 s end to end on two cores), so the sensors
never request one run per tenant. The batch op syncs each tenant in a thread pool
(:mod:`okr_core.sync_runner`), then for every tenant that succeeded records one
``AssetMaterialization`` for that tenant's partition of the extract asset and of
``key_results/values`` (and, with ``record_model_events``, of every SQL model, which always
run in memory in between). The UI therefore shows each tenant's sync status as if the
partition had been materialised alone (which remains possible from the UI).

Failures: a tenant whose sync fails (permanently, or transiently after its bounded retries)
does not stop the others; at the end the step raises ``Failure(allow_retries=False)`` with the
failed tenants in its metadata, which the run-failure sensor turns into notifications. Only
infrastructure errors escape as exceptions and meet the step's ``RetryPolicy``.
"""

import uuid
from datetime import datetime
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from okr_core.binding_values import load_project
from okr_core.models import SyncTrigger
from okr_core.sync_runner import BatchItem, TenantOutcome, run_batch
from okr_core.value_checks import CheckOutcome
from okr_pipelines.key_results.assets import values_metadata
from okr_pipelines.keys import RAW_KEYS, VALUES_KEY, model_key
from okr_pipelines.partitions import TENANT_PARTITIONS_NAME
from okr_pipelines.policies import BATCH_INFRA_RETRY, SOURCE_RETRY
from okr_pipelines.resources import AppDatabase
from okr_pipelines.sources.common import sync_metadata


class BatchItemConfig(Config):
    tenant_id: str
    integration_id: str
    event_up_to: int = 0
    sync_requested_at: str | None = Field(
        default=None,
        description=(
            'ISO instant an admin pressed "Sync now": this sync is recorded as manual and clears '
            "that request when it starts"
        ),
    )


class SyncBatchConfig(Config):
    source: str = Field(description="jira or github: one source per run")
    trigger: str = Field(default="schedule", description="schedule, webhook, manual or backfill")
    items: list[BatchItemConfig] = Field(default_factory=list)
    max_workers: int = Field(default=16, ge=1, le=64, description="tenants synced at once")
    record_model_events: bool = Field(
        default=False,
        description=(
            "also record a materialization of every SQL model per tenant (the models always "
            "run; each event costs a storage write, about 7 ms on SQLite, so scheduled "
            "batches record only the extract asset and key_results/values)"
        ),
    )


def _ensure_partitions(context: OpExecutionContext, tenant_ids: list[str]) -> None:
    """A tenant created moments ago may not have its partition yet: add missing ones in bulk."""
    existing = set(context.instance.get_dynamic_partitions(TENANT_PARTITIONS_NAME))
    missing = sorted(set(tenant_ids) - existing)
    if missing:
        context.instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, missing)


def _record(
    context: OpExecutionContext,
    config: SyncBatchConfig,
    outcome: TenantOutcome,
    model_names: list[str],
) -> None:
    partition = str(outcome.tenant_id)
    if not any(s.succeeded for s in outcome.syncs):
        return
    context.log_event(
        AssetMaterialization(
            asset_key=RAW_KEYS[config.source],
            partition=partition,
            metadata={**sync_metadata(outcome.syncs), "trigger": config.trigger},
        )
    )
    if outcome.values is None:
        return
    if config.record_model_events:
        project = load_project()
        for name in model_names:
            row_count = outcome.values.row_count(name)
            if row_count is None:
                continue  # another source's staging model: its inputs did not change
            context.log_event(
                AssetMaterialization(
                    asset_key=model_key(project, name),
                    partition=partition,
                    metadata={"dagster/row_count": row_count},
                )
            )
    context.log_event(
        AssetMaterialization(
            asset_key=VALUES_KEY,
            partition=partition,
            metadata={
                **values_metadata(outcome.values),
                "duration_seconds": round(outcome.duration_seconds, 3),
            },
        )
    )


@op(
    retry_policy=BATCH_INFRA_RETRY,
    tags={"okr/kind": "sync_batch"},
    description="Sync one source for a batch of tenants, then write their key-result values.",
)
def sync_batch(context: OpExecutionContext, config: SyncBatchConfig, app_db: AppDatabase) -> None:
    items = [
        BatchItem(
            tenant_id=uuid.UUID(item.tenant_id),
            integration_id=uuid.UUID(item.integration_id),
            event_up_to=item.event_up_to,
            sync_requested_at=(
                datetime.fromisoformat(item.sync_requested_at) if item.sync_requested_at else None
            ),
        )
        for item in config.items
    ]
    tenant_ids = list(dict.fromkeys(str(i.tenant_id) for i in items))
    _ensure_partitions(context, tenant_ids)
    context.log.info(
        f"syncing {config.source} for {len(tenant_ids)} tenant(s), {len(items)} integration(s)"
    )
    model_names = list(load_project().order)
    failed: list[dict[str, Any]] = []
    checks: dict[str, CheckOutcome] = {}
    for outcome in run_batch(
        app_db.factory,
        items=items,
        cipher=app_db.cipher,
        warehouse_dir=app_db.settings.warehouse_dir,
        trigger=SyncTrigger(config.trigger),
        retry=SOURCE_RETRY,
        dagster_run_id=context.run_id,
        max_workers=config.max_workers,
    ):
        _record(context, config, outcome, model_names)
        if outcome.failed:
            failed.append(outcome.failure_summary())
            context.log.warning(f"tenant {outcome.tenant_id}: sync failed")
        for check in outcome.checks:
            for failure in check.failures:
                failure["tenant_id"] = str(outcome.tenant_id)
            checks[check.name] = checks[check.name].merge(check) if check.name in checks else check
    for check in checks.values():
        # An op may log check evaluations for a defined check (the stubs list fewer types).
        log_event: Any = context.log_event
        log_event(
            AssetCheckEvaluation(
                asset_key=VALUES_KEY,
                check_name=check.name,
                passed=check.passed,
                severity=AssetCheckSeverity.WARN
                if check.name == "sources_fresh"
                else AssetCheckSeverity.ERROR,
                metadata={
                    "tenants": len(tenant_ids),
                    "failures": MetadataValue.json(check.failures[:100]),
                },
            )
        )
    if failed:
        raise Failure(
            description=(
                f"{len(failed)} of {len(tenant_ids)} tenant(s) failed to sync {config.source}; "
                "the others succeeded"
            ),
            metadata={"failed_tenants": MetadataValue.json(failed)},
            allow_retries=False,
        )


@job(
    executor_def=in_process_executor,
    tags={"okr/kind": "sync_batch"},
    description="Batched sync: one source, up to 100 tenants, one run (requested by sensors).",
)
def sync_batch_job() -> None:
    sync_batch()
