"""Materialising one tenant partition of ``platform/tenants/directory``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, materialize

from okr_core.tenancy import tenant_context
from okr_core.users import create_user
from okr_pipelines.partitions import TENANT_PARTITIONS_NAME
from okr_pipelines.platform.assets import TENANT_DIRECTORY_KEY, tenant_directory, tenant_file
from okr_pipelines.resources import AppDatabase
from tests.okr_pipelines.conftest import ACTOR, AppDb


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_materialising_one_partition_writes_only_that_tenants_snapshot(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    a = app_db.create_tenant("alpha", people=2, objectives_=1, krs_each=3)
    b = app_db.create_tenant("beta", people=5, objectives_=4, krs_each=1)
    dagster_instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, [str(a), str(b)])

    result = materialize(
        [tenant_directory],
        instance=dagster_instance,
        partition_key=str(a),
        resources={"app_db": app_db.resource()},
    )

    assert result.success
    warehouse = app_db.settings.warehouse_dir
    snapshot = read(tenant_file(warehouse, a))
    assert snapshot["tenant_id"] == str(a)
    assert snapshot["slug"] == "alpha"
    assert snapshot["name"] == "Tenant alpha"
    assert snapshot["status"] == "active"
    assert snapshot["counts"] == {"users": 2, "objectives": 1, "key_results": 3}
    assert not tenant_file(warehouse, b).exists()
    assert [p.name for p in warehouse.iterdir()] == [f"tenant={a}"]
    [materialization] = result.asset_materializations_for_node(tenant_directory.op.name)
    assert materialization.asset_key == TENANT_DIRECTORY_KEY
    assert materialization.partition == str(a)
    assert materialization.metadata["users"].value == 2
    assert materialization.metadata["key_results"].value == 3


def test_rerun_replaces_the_snapshot(
    sqlite_app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    tenant = sqlite_app_db.create_tenant("alpha", people=1)
    dagster_instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, [str(tenant)])
    resources = {"app_db": sqlite_app_db.resource()}
    for run in range(2):
        result = materialize(
            [tenant_directory],
            instance=dagster_instance,
            partition_key=str(tenant),
            resources=resources,
        )
        assert result.success
        with sqlite_app_db.commit() as session, tenant_context(session, tenant):
            create_user(
                session, actor=ACTOR, email=f"late{run}@alpha.example.com", display_name="L"
            )

    folder = tenant_file(sqlite_app_db.settings.warehouse_dir, tenant).parent
    assert [p.name for p in folder.iterdir()] == ["tenant.json"]
    assert read(folder / "tenant.json")["counts"]["users"] == 2  # the second run's count


def test_unknown_tenant_partition_fails_without_writing(
    sqlite_app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    ghost = str(uuid.uuid4())
    dagster_instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, [ghost])

    result = materialize(
        [tenant_directory],
        instance=dagster_instance,
        partition_key=ghost,
        resources={"app_db": sqlite_app_db.resource()},
        raise_on_error=False,
    )

    assert not result.success
    assert not sqlite_app_db.settings.warehouse_dir.exists()


def test_app_database_reads_okr_environment_when_the_run_starts(
    sqlite_app_db: AppDb, dagster_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = AppDatabase()  # built first, like the code location at load time
    tenant = sqlite_app_db.create_tenant("alpha", people=1)
    dagster_instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, [str(tenant)])
    monkeypatch.setenv("OKR_DATA_DIR", str(sqlite_app_db.settings.data_dir))
    monkeypatch.delenv("OKR_DATABASE_URL", raising=False)

    result = materialize(
        [tenant_directory],
        instance=dagster_instance,
        partition_key=str(tenant),
        resources={"app_db": resource},
    )

    assert result.success
    assert read(tenant_file(sqlite_app_db.settings.warehouse_dir, tenant))["slug"] == "alpha"
