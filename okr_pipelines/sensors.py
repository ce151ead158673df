"""Sensors of the code location.

``tenant_partitions_sensor`` keeps the ``tenant`` dynamic partitions equal to the active tenants
of the app database, so a new tenant can be materialised (and backfilled) within one tick and a
suspended or deleted tenant stops being offered. It targets no job: it only returns dynamic
partition requests, which the daemon applies after the evaluation.
"""

from collections.abc import Iterable, Sequence

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from okr_core.tenants import active_tenant_ids
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
