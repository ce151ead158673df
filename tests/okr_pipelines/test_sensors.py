"""The tenant sensor keeps the ``tenant`` partitions equal to the active tenants."""

from __future__ import annotations

from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
)

from okr_core.models import TenantStatus
from okr_pipelines.partitions import TENANT_PARTITIONS_NAME
from okr_pipelines.sensors import tenant_partition_requests, tenant_partitions_sensor
from tests.okr_pipelines.conftest import AppDb


def evaluate(instance: DagsterInstance, app_db: AppDb) -> SensorResult | SkipReason:
    with build_sensor_context(
        instance=instance, resources={"app_db": app_db.resource()}
    ) as context:
        result = tenant_partitions_sensor(context)
    assert isinstance(result, SensorResult | SkipReason)
    return result


def apply(instance: DagsterInstance, result: SensorResult) -> None:
    """Do what the daemon does with the tick's dynamic partition requests."""
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


def partition_keys(instance: DagsterInstance) -> set[str]:
    return set(instance.get_dynamic_partitions(TENANT_PARTITIONS_NAME))


def test_sensor_adds_a_partition_per_active_tenant(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    a = app_db.create_tenant("alpha")
    b = app_db.create_tenant("beta")
    suspended = app_db.create_tenant("gamma")
    app_db.set_status(suspended, TenantStatus.suspended)

    result = evaluate(dagster_instance, app_db)

    assert isinstance(result, SensorResult)
    assert result.run_requests == []
    [request] = result.dynamic_partitions_requests or []
    assert isinstance(request, AddDynamicPartitionsRequest)
    assert request.partitions_def_name == TENANT_PARTITIONS_NAME
    assert sorted(request.partition_keys) == sorted([str(a), str(b)])
    apply(dagster_instance, result)
    assert partition_keys(dagster_instance) == {str(a), str(b)}


def test_second_tick_adds_new_and_deletes_gone_tenants_in_one_result(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    staying = app_db.create_tenant("staying")
    suspended = app_db.create_tenant("suspended-later")
    removed = app_db.create_tenant("removed-later")
    first = evaluate(dagster_instance, app_db)
    assert isinstance(first, SensorResult)
    apply(dagster_instance, first)

    app_db.set_status(suspended, TenantStatus.suspended)
    app_db.delete_tenant(removed)
    newcomer = app_db.create_tenant("newcomer")
    second = evaluate(dagster_instance, app_db)

    assert isinstance(second, SensorResult)
    add, delete = second.dynamic_partitions_requests or []
    assert isinstance(add, AddDynamicPartitionsRequest)
    assert add.partition_keys == [str(newcomer)]
    assert isinstance(delete, DeleteDynamicPartitionsRequest)
    assert delete.partition_keys == sorted([str(suspended), str(removed)])
    apply(dagster_instance, second)
    assert partition_keys(dagster_instance) == {str(staying), str(newcomer)}


def test_sensor_skips_when_partitions_already_match(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    tenant = app_db.create_tenant("settled")
    dagster_instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, [str(tenant)])

    result = evaluate(dagster_instance, app_db)

    assert isinstance(result, SkipReason)
    assert partition_keys(dagster_instance) == {str(tenant)}


def test_sensor_deletes_partitions_nobody_owns(
    sqlite_app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    dagster_instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, ["stale-1", "stale-2"])

    result = evaluate(dagster_instance, sqlite_app_db)

    assert isinstance(result, SensorResult)
    [request] = result.dynamic_partitions_requests or []
    assert isinstance(request, DeleteDynamicPartitionsRequest)
    assert request.partition_keys == ["stale-1", "stale-2"]


def test_requests_are_empty_when_sets_match() -> None:
    assert tenant_partition_requests(["a", "b"], ["b", "a"]) == []


def test_requests_bulk_add_in_wanted_order_and_drop_duplicates() -> None:
    [add] = tenant_partition_requests(["b"], ["c", "a", "b", "c"])
    assert isinstance(add, AddDynamicPartitionsRequest)
    assert add.partition_keys == ["c", "a"]


def test_requests_bulk_delete_everything_when_no_tenant_is_active() -> None:
    [delete] = tenant_partition_requests(["b", "a"], [])
    assert isinstance(delete, DeleteDynamicPartitionsRequest)
    assert delete.partition_keys == ["a", "b"]


def test_sensor_runs_by_default_without_a_job() -> None:
    assert tenant_partitions_sensor.default_status == DefaultSensorStatus.RUNNING
    assert tenant_partitions_sensor.minimum_interval_seconds == 30
    assert not tenant_partitions_sensor.has_jobs
    assert tenant_partitions_sensor.required_resource_keys == {"app_db"}
