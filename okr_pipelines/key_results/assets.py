"""``key_results/values``: computed values written back as check-ins, guarded by checks."""

from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from okr_core.binding_values import VALUES_MODEL, load_project
from okr_core.db.engine import unit_of_work
from okr_core.kr_values import TenantValues, latest_values, refresh_tenant_values
from okr_core.tenancy import tenant_context
from okr_core.value_checks import evaluate
from okr_pipelines.keys import VALUES_KEY, model_key
from okr_pipelines.partitions import tenant_partitions
from okr_pipelines.policies import BATCH_INFRA_RETRY
from okr_pipelines.resources import AppDatabase
from okr_pipelines.sources.common import tenant_id_of

CHECKS = ("values_not_null", "values_within_bounds", "sources_fresh")
CHECK_DESCRIPTIONS = {
    "values_not_null": "A binding whose latest day counts records has a value.",
    "values_within_bounds": "Counts, sums and medians are finite and not negative; shares "
    "lie between 0 and 100.",
    "sources_fresh": "Every integration a binding uses succeeded within twice its sync "
    "interval plus 15 minutes.",
}
CHECK_SPECS = [
    AssetCheckSpec(name, asset=VALUES_KEY, description=CHECK_DESCRIPTIONS[name]) for name in CHECKS
]


def values_metadata(values: TenantValues) -> dict[str, Any]:
    latest = latest_values(values.outputs[VALUES_MODEL])
    return {
        "bindings": len(values.specs),
        "check_ins_inserted": sum(k.inserted for k in values.written.key_results),
        "check_ins_updated": sum(k.updated for k in values.written.key_results),
        "latest": MetadataValue.json(
            {
                binding_id: {
                    "key_result_id": row["key_result_id"],
                    "day": str(row["day"]),
                    "value": row["value"],
                    "record_count": row["record_count"],
                    "record_set_hash": row["record_set_hash"],
                }
                for binding_id, row in latest.items()
            }
        ),
    }


@asset(
    key=VALUES_KEY,
    deps=[model_key(load_project(), VALUES_MODEL)],
    group_name="key_results",
    partitions_def=tenant_partitions,
    kinds={"python", "sqlalchemy"},
    check_specs=CHECK_SPECS,
    retry_policy=BATCH_INFRA_RETRY,
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=timedelta(hours=26), warn_window=timedelta(hours=3)
    ),
    owners=["team:data-platform"],
)
# The bare ``MaterializeResult`` annotation: Dagster reads it to allow the check outputs.
def key_result_values(context: AssetExecutionContext, app_db: AppDatabase) -> MaterializeResult:  # type: ignore[type-arg]
    """Each bound key result's value per day of its period, written back through okr_core:
    one automated check-in per key result per day (upserted: reruns never double), the key
    result's current value, and an audit event when something changed. Each check-in carries
    its lineage (binding, query, record count, record-set hash, computed at).

    Grain: one check-in per bound key result per UTC day of its period up to now.
    """
    tenant_id = tenant_id_of(context.partition_key)
    now = datetime.now(UTC)
    with unit_of_work(app_db.factory) as session, tenant_context(session, tenant_id):
        values = refresh_tenant_values(
            session,
            warehouse_dir=app_db.settings.warehouse_dir,
            as_of=now,
            write_model_outputs=True,
        )
        outcomes = evaluate(session, values, now=now)
    return MaterializeResult(
        metadata=values_metadata(values),
        check_results=[
            AssetCheckResult(
                check_name=o.name,
                passed=o.passed,
                severity=AssetCheckSeverity.ERROR
                if o.name != "sources_fresh"
                else AssetCheckSeverity.WARN,
                metadata={"tenant_id": str(tenant_id), "failures": MetadataValue.json(o.failures)},
            )
            for o in outcomes
        ],
    )
