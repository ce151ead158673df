"""The batched run under stress: faults, revoked credentials, and two tenants that look alike.

Each test runs ``sync_batch_job`` in process over several tenants at once, as a sensor's run
request would, with every tenant on its own sandbox server.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    ExecuteInProcessResult,
    build_run_status_sensor_context,
)
from sqlalchemy import select

from okr_core.models import (
    ErrorClass,
    Integration,
    KeyResult,
    Notification,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from okr_core.roles import Role
from okr_core.secrets import CredentialCipher
from okr_core.sync_schedule import DueIntegration
from okr_core.tenancy import tenant_context
from okr_core.warehouse import tenant_dir
from okr_pipelines.jobs import sync_batch_job
from okr_pipelines.keys import RAW_KEYS, VALUES_KEY
from okr_pipelines.sensors import batch_run_request, failed_tenants_of, sync_failure_sensor
from okr_sandboxes import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from tests.okr_core.sources.support import seed_tenant
from tests.okr_pipelines.conftest import AppDb


def run(
    instance: DagsterInstance,
    app_db: AppDb,
    source: str,
    tenants: list[tuple[uuid.UUID, dict[str, uuid.UUID]]],
) -> ExecuteInProcessResult:
    request = batch_run_request(
        [
            DueIntegration(integrations[source], tenant_id, source)
            for tenant_id, integrations in tenants
        ],
        source=source,
        trigger=SyncTrigger.schedule,
        run_key=f"test:{source}",
    )
    return sync_batch_job.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        resources={"app_db": app_db.resource()},
        raise_on_error=False,
    )


def values(app_db: AppDb, tenant_id: uuid.UUID) -> dict[str, float]:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        return {kr.title: kr.current_value for kr in session.scalars(select(KeyResult))}


def sync_runs(app_db: AppDb, tenant_id: uuid.UUID) -> list[SyncRun]:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        return list(session.scalars(select(SyncRun).order_by(SyncRun.started_at)))


@pytest.fixture
def twin_jira() -> Iterator[tuple[JiraSandbox, JiraSandbox]]:
    """Two sandbox servers with the same seed: identical data, separate request logs."""
    with (
        run_jira_sandbox(seed="twin", issues=1500) as clean,
        run_jira_sandbox(seed="twin", issues=1500) as faulty,
    ):
        yield clean, faulty


@pytest.fixture
def twin_github() -> Iterator[tuple[GitHubSandbox, GitHubSandbox]]:
    with (
        run_github_sandbox(seed="twin", pulls=800) as clean,
        run_github_sandbox(seed="twin", pulls=800) as faulty,
    ):
        yield clean, faulty


@pytest.mark.slow
def test_twenty_percent_transient_faults_give_the_fault_free_values(
    sqlite_app_db: AppDb,
    dagster_instance: DagsterInstance,
    twin_jira: tuple[JiraSandbox, JiraSandbox],
    twin_github: tuple[GitHubSandbox, GitHubSandbox],
) -> None:
    app_db = sqlite_app_db
    cipher = CredentialCipher.from_settings(app_db.settings)
    (clean_jira, faulty_jira), (clean_github, faulty_github) = twin_jira, twin_github
    for sandbox in (faulty_jira, faulty_github):
        sandbox.set_faults(rate_limited=0.1, server_errors=0.1, retry_after=1, seed="twenty")
    with app_db.commit() as session:
        clean = seed_tenant(session, "clean", cipher=cipher, jira=clean_jira, github=clean_github)
        faulty = seed_tenant(
            session, "faulty", cipher=cipher, jira=faulty_jira, github=faulty_github
        )
    for source in ("jira", "github"):
        result = run(dagster_instance, app_db, source, [clean, faulty])
        assert result.success, source

    assert values(app_db, faulty[0]) == values(app_db, clean[0])
    assert any(v for v in values(app_db, clean[0]).values())
    injected = {
        **faulty_jira.faults()["injected"],
        **{f"gh{k}": v for k, v in faulty_github.faults()["injected"].items()},
    }
    assert sum(injected.values()) >= 3, injected  # faults really happened ...
    faulty_runs = sync_runs(app_db, faulty[0])
    assert all(r.status is SyncStatus.succeeded for r in faulty_runs)
    assert any("retried" in (r.message or "") for r in faulty_runs)  # ... and were retried


def test_a_revoked_token_fails_fast_without_failing_the_other_tenant(
    sqlite_app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    app_db = sqlite_app_db
    cipher = CredentialCipher.from_settings(app_db.settings)
    with (
        run_jira_sandbox(seed="healthy", issues=120) as healthy_sandbox,
        run_jira_sandbox(seed="revoked", issues=120) as revoked_sandbox,
        app_db.commit() as session,
    ):
        healthy = seed_tenant(session, "healthy", cipher=cipher, jira=healthy_sandbox)
        revoked = seed_tenant(session, "revoked", cipher=cipher, jira=revoked_sandbox)
        session.commit()
        revoked_sandbox.set_faults(unauthorized=True)
        result = run(dagster_instance, app_db, "jira", [healthy, revoked])

        assert not result.success
        # No retry storm: the first requests' 401s (the server info and the first page go out
        # together) ended that tenant's sync.
        assert revoked_sandbox.requests()["by_status"] == {"401": 2}
    failures = failed_tenants_of(dagster_instance, result.run_id)
    assert failures is not None
    assert [f.tenant_id for f in failures] == [revoked[0]]
    step_failure = next(
        e for e in result.all_events if e.event_type is DagsterEventType.STEP_FAILURE
    )
    user_failure = step_failure.step_failure_data.user_failure_data
    assert user_failure is not None
    assert "1 of 2 tenant(s) failed" in (user_failure.description or "")

    [run_row] = sync_runs(app_db, revoked[0])
    assert run_row.status is SyncStatus.failed
    assert run_row.error_class is ErrorClass.permanent
    assert "Jira refused the credentials (HTTP 401)" in (run_row.message or "")
    assert revoked_sandbox.api_token not in (run_row.message or "")
    assert [r.status for r in sync_runs(app_db, healthy[0])] == [SyncStatus.succeeded]
    assert any(values(app_db, healthy[0]).values())
    assert not any(values(app_db, revoked[0]).values())  # nothing made up for the failed one
    materialized = dagster_instance.get_materialized_partitions(VALUES_KEY)
    assert str(healthy[0]) in materialized
    assert str(revoked[0]) not in materialized
    with app_db.commit() as session, tenant_context(session, revoked[0]):
        integration = session.scalars(select(Integration)).one()
        assert integration.last_error_class == "permanent"
        assert integration.last_success_at is None

    # The run-failure sensor tells the failed tenant's admins, once, and nobody else.
    for _ in range(2):
        notify_failure(dagster_instance, app_db, result.run_id)
    [notification] = notifications(app_db, revoked[0])
    assert notification.kind == "integration.sync_failed"
    assert notification.audience is Role.tenant_admin
    assert "Jira refused the credentials (HTTP 401)" in notification.body
    assert revoked_sandbox.api_token not in notification.body
    assert notifications(app_db, healthy[0]) == []


def notify_failure(instance: DagsterInstance, app_db: AppDb, run_id: str) -> None:
    dagster_run = instance.get_run_by_id(run_id)
    assert dagster_run is not None
    failure = next(
        r.event_log_entry.dagster_event
        for r in instance.get_records_for_run(run_id).records
        if r.event_log_entry.dagster_event is not None
        and r.event_log_entry.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )
    with build_run_status_sensor_context(
        sensor_name="sync_failure_sensor",
        dagster_instance=instance,
        dagster_run=dagster_run,
        dagster_event=failure,
        resources={"app_db": app_db.resource()},
    ).for_run_failure() as context:
        sync_failure_sensor(context)


def notifications(app_db: AppDb, tenant_id: uuid.UUID) -> list[Notification]:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        return list(session.scalars(select(Notification)))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock")


@pytest.mark.slow
def test_tenants_with_identical_keys_on_different_sandboxes_never_mix(
    app_db: AppDb, dagster_instance: DagsterInstance, caplog: pytest.LogCaptureFixture
) -> None:
    cipher = CredentialCipher.from_settings(app_db.settings)
    caplog.set_level(logging.DEBUG)
    with (
        run_jira_sandbox(seed="left", issues=150, projects=("ENG", "OPS")) as left_jira,
        run_jira_sandbox(seed="right", issues=90, projects=("ENG", "OPS")) as right_jira,
        run_github_sandbox(seed="left", pulls=120) as left_github,
        run_github_sandbox(seed="right", pulls=70) as right_github,
    ):
        with app_db.commit() as session:
            left = seed_tenant(session, "left", cipher=cipher, jira=left_jira, github=left_github)
            right = seed_tenant(
                session, "right", cipher=cipher, jira=right_jira, github=right_github
            )
        for source in ("jira", "github"):
            assert run(dagster_instance, app_db, source, [left, right]).success
        sandboxes = {
            left[0]: (left_jira, left_github, left[1]),
            right[0]: (right_jira, right_github, right[1]),
        }
        for jira_sb, github_sb, _ in sandboxes.values():
            # Each sandbox saw only its own tenant's credentials (others would answer 401).
            assert set(jira_sb.requests()["by_status"]) == {"200"}
            assert set(github_sb.requests()["by_status"]) == {"200"}

        warehouse = app_db.settings.warehouse_dir
        for tenant_id, (jira_sb, _, integrations) in sandboxes.items():
            other_id = right[0] if tenant_id == left[0] else left[0]
            other_integrations = sandboxes[other_id][2]
            files = _files(tenant_dir(warehouse, tenant_id))
            assert files
            for path in files:
                if path.suffix != ".parquet":
                    continue
                table = pq.read_table(path)
                for column in ("integration_id",):
                    if column in table.column_names:
                        assert set(table.column(column).to_pylist()) <= {
                            str(i) for i in integrations.values()
                        }, path
            issues = pq.read_table(tenant_dir(warehouse, tenant_id) / "jira" / "issues.parquet")
            for row in issues.select(["issue_key", "summary"]).to_pylist():
                assert jira_sb.issue(row["issue_key"])["fields"]["summary"] == row["summary"]
            blob = b"".join(p.read_bytes() for p in files)
            for other in other_integrations.values():
                assert str(other).encode() not in blob
            assert str(other_id).encode() not in blob

    # Values differ (different data), and each tenant's records count only its own issues.
    assert values(app_db, left[0]) != values(app_db, right[0])
    for tenant_id in (left[0], right[0]):
        other_id = right[0] if tenant_id == left[0] else left[0]
        for run_row in sync_runs(app_db, tenant_id):
            assert str(other_id) not in (run_row.message or "")
        for key in RAW_KEYS.values():
            event = dagster_instance.get_latest_materialization_event(key)
            assert event is not None
        records = dagster_instance.fetch_materializations(VALUES_KEY, limit=10).records
        for record in records:
            materialization = record.asset_materialization
            assert materialization is not None
            text = json.dumps({k: str(v) for k, v in materialization.metadata.items()})
            mine = materialization.partition == str(tenant_id)
            if mine:
                assert str(other_id) not in text
    # Log lines naming one tenant's integration never name the other's.
    left_ids = {str(i) for i in left[1].values()} | {str(left[0])}
    right_ids = {str(i) for i in right[1].values()} | {str(right[0])}
    for record in caplog.records:
        line = record.getMessage()
        assert not (any(i in line for i in left_ids) and any(i in line for i in right_ids)), line
