"""Instance configuration: the demo's SQLite instance and the production PostgreSQL one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from dagster._core.run_coordinator import QueuedRunCoordinator

from okr_core.dagster_home import DEFAULT_TEMPLATE, REPO_ROOT, prepare_dagster_home
from okr_pipelines.partitions import TENANT_PARTITIONS_NAME
from okr_pipelines.platform.assets import tenant_directory, tenant_file
from tests.okr_pipelines.conftest import AppDb, create_pg_database, drop_pg_database

PRODUCTION_TEMPLATE = REPO_ROOT / "deploy" / "dagster.production.yaml"


def test_prepare_dagster_home_copies_the_template(tmp_path: Path) -> None:
    home = tmp_path / "var" / "dagster"

    prepare_dagster_home(home)

    assert (home / "dagster.yaml").read_bytes() == DEFAULT_TEMPLATE.read_bytes()


def test_prepare_dagster_home_keeps_an_existing_config(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    prepare_dagster_home(home, PRODUCTION_TEMPLATE)

    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_prepare_dagster_home_refuses_a_missing_template(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        prepare_dagster_home(tmp_path / "dagster", tmp_path / "nope.yaml")
    assert not (tmp_path / "dagster").exists()


def test_demo_instance_keeps_everything_under_dagster_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster"
    prepare_dagster_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, ["t1"])
        assert instance.get_dynamic_partitions(TENANT_PARTITIONS_NAME) == ["t1"]
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == 4
        assert not instance.telemetry_enabled
        assert instance.run_retries_enabled

    assert (home / "history" / "runs.db").exists()
    assert (home / "schedules" / "schedules.db").exists()


@pytest.fixture
def dagster_pg_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Dagster storage database and the DAGSTER_PG_* variables the config reads."""
    name = create_pg_database()
    for key, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": name,
        "DAGSTER_PG_USERNAME": "postgres",
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        yield name
    finally:
        drop_pg_database(name)


@pytest.mark.slow
def test_production_instance_runs_a_tenant_partition_on_postgresql(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dagster_pg_env: str,
    sqlite_app_db: AppDb,
) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(PRODUCTION_TEMPLATE, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    tenant = sqlite_app_db.create_tenant("alpha", people=1)

    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        instance.add_dynamic_partitions(TENANT_PARTITIONS_NAME, [str(tenant)])
        # Writing run events is where a psycopg 3 URL breaks (pitfall P1).
        result = materialize(
            [tenant_directory],
            instance=instance,
            partition_key=str(tenant),
            resources={"app_db": sqlite_app_db.resource()},
        )
        assert result.success
        assert instance.get_materialized_partitions(tenant_directory.key) == {str(tenant)}

    assert tenant_file(sqlite_app_db.settings.warehouse_dir, tenant).exists()
