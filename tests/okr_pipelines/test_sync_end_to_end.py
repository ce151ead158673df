"""End to end through Dagster: sandbox data in, key-result values and check-ins out.

The batched job runs exactly as the sensors request it (``execute_in_process`` of the run
request's config), on SQLite and on PostgreSQL; the values are compared with a live, full
evaluation of each binding (the preview), so the incremental machinery is checked against an
independent path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dagster import (
    AssetCheckKey,
    DagsterInstance,
    ExecuteInProcessResult,
    RunRequest,
    materialize,
)
from sqlalchemy import select

from okr_core.binding_preview import preview_binding
from okr_core.binding_values import load_project
from okr_core.models import (
    AuditEvent,
    CheckIn,
    CheckInSource,
    Integration,
    KeyResult,
    KrBinding,
    Objective,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from okr_core.secrets import CredentialCipher
from okr_core.sync_schedule import DueIntegration
from okr_core.tenancy import tenant_context
from okr_pipelines.definitions import defs
from okr_pipelines.jobs import sync_batch_job
from okr_pipelines.key_results.assets import key_result_values
from okr_pipelines.keys import RAW_KEYS, VALUES_KEY, model_key
from okr_pipelines.sensors import batch_run_request
from okr_pipelines.sources.jira.assets import raw_jira_issues
from okr_pipelines.sql_models.assets import build_model_assets
from okr_sandboxes import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from tests.okr_core.sources.support import seed_tenant
from tests.okr_pipelines.conftest import AppDb


@pytest.fixture(scope="module")
def jira_sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="e2e-jira", issues=300) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="e2e-github", pulls=160) as sandbox:
        yield sandbox


def run_request(
    tenant_id: uuid.UUID, integrations: dict[str, uuid.UUID], source: str
) -> RunRequest:
    return batch_run_request(
        [DueIntegration(integrations[source], tenant_id, source)],
        source=source,
        trigger=SyncTrigger.schedule,
        run_key=f"test:{source}:{tenant_id}",
    )


def execute(
    instance: DagsterInstance, app_db: AppDb, request: RunRequest
) -> ExecuteInProcessResult:
    return sync_batch_job.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        resources={"app_db": app_db.resource()},
        tags=request.tags,
        raise_on_error=False,
    )


def key_results(app_db: AppDb, tenant_id: uuid.UUID) -> dict[str, KeyResult]:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        return {kr.title: kr for kr in session.scalars(select(KeyResult))}


def live_values(app_db: AppDb, tenant_id: uuid.UUID) -> dict[str, float | None]:
    """Every binding evaluated live and in full, independently of the landed files."""
    cipher = CredentialCipher.from_settings(app_db.settings)
    with app_db.commit() as session, tenant_context(session, tenant_id):
        values: dict[str, float | None] = {}
        for binding in session.scalars(select(KrBinding)):
            kr = session.scalars(
                select(KeyResult).where(KeyResult.id == binding.key_result_id)
            ).one()
            integration = session.scalars(
                select(Integration).where(Integration.id == binding.integration_id)
            ).one()
            values[kr.title] = preview_binding(
                session,
                integration=integration,
                key_result=kr,
                metric=binding.metric,
                parameters=binding.parameters,
                whole_history=binding.whole_history,
                cipher=cipher,
            ).value
        return values


def automated_check_ins(app_db: AppDb, tenant_id: uuid.UUID) -> dict[str, list[CheckIn]]:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        titles = {kr.id: kr.title for kr in session.scalars(select(KeyResult))}
        out: dict[str, list[CheckIn]] = {title: [] for title in titles.values()}
        for check_in in session.scalars(
            select(CheckIn)
            .where(CheckIn.source == CheckInSource.automated)
            .order_by(CheckIn.checked_at)
        ):
            out[titles[check_in.key_result_id]].append(check_in)
        return out


def period_days(app_db: AppDb, tenant_id: uuid.UUID) -> int:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        objective = session.scalars(select(Objective)).first()
        assert objective is not None
        return (datetime.now(UTC).date() - objective.period_start).days + 1


@pytest.mark.slow
def test_sandbox_data_in_key_result_values_and_check_ins_out(
    app_db: AppDb,
    dagster_instance: DagsterInstance,
    jira_sandbox: JiraSandbox,
    github_sandbox: GitHubSandbox,
) -> None:
    cipher = CredentialCipher.from_settings(app_db.settings)
    with app_db.commit() as session:
        tenant_id, integrations = seed_tenant(
            session, "e2e", cipher=cipher, jira=jira_sandbox, github=github_sandbox
        )
    for source in ("jira", "github"):
        request = run_request(tenant_id, integrations, source)
        request.run_config["ops"]["sync_batch"]["config"]["record_model_events"] = True
        result = execute(dagster_instance, app_db, request)
        assert result.success

    expected = live_values(app_db, tenant_id)
    krs = key_results(app_db, tenant_id)
    assert len(krs) == 6
    for title, kr in krs.items():
        assert kr.current_value == pytest.approx(expected[title] or kr.start_value), title
    assert expected["jira count"]  # the data is not trivial
    assert expected["github merged"]

    # One automated check-in per KR per day of the period so far: history is backfilled.
    days = period_days(app_db, tenant_id)
    check_ins = automated_check_ins(app_db, tenant_id)
    for title in ("jira count", "jira points", "github merged"):
        history = check_ins[title]
        assert len(history) == days, title
        assert len({c.checked_at.date() for c in history}) == days
        lineage = json.loads(history[-1].source_ref or "{}")
        assert set(lineage) == {
            "binding_id",
            "metric",
            "query",
            "record_count",
            "record_set_hash",
            "computed_at",
        }
        assert len(lineage["record_set_hash"]) == 32
    assert json.loads(check_ins["jira count"][-1].source_ref or "{}")["query"] == "project = ENG"
    counts = [c.value for c in check_ins["jira count"]]
    assert counts[0] <= counts[-1]  # a count builds up over the period

    with app_db.commit() as session, tenant_context(session, tenant_id):
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "key_result.synced")
        ).all()
        assert len(audits) == 6
        runs = session.scalars(select(SyncRun)).all()
        assert {r.status for r in runs} == {SyncStatus.succeeded}
        assert {r.trigger for r in runs} == {SyncTrigger.schedule}
        assert all(r.dagster_run_id for r in runs)

    partition = str(tenant_id)
    project = load_project()
    for key in [*RAW_KEYS.values(), VALUES_KEY, *(model_key(project, m) for m in project.order)]:
        assert partition in dagster_instance.get_materialized_partitions(key), key
    for check in ("values_not_null", "values_within_bounds", "sources_fresh"):
        history = dagster_instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(VALUES_KEY, check), limit=1
        )
        assert history, check
        evaluation = history[0].event
        assert evaluation is not None
        assert evaluation.dagster_event is not None
        assert evaluation.dagster_event.event_specific_data.passed, check  # type: ignore[union-attr]

    # A rerun changes nothing: no new check-ins, same values.
    total = sum(len(v) for v in check_ins.values())
    for source in ("jira", "github"):
        assert execute(
            dagster_instance, app_db, run_request(tenant_id, integrations, source)
        ).success
    assert sum(len(v) for v in automated_check_ins(app_db, tenant_id).values()) == total
    assert {t: k.current_value for t, k in key_results(app_db, tenant_id).items()} == {
        t: k.current_value for t, k in krs.items()
    }


def test_one_tenant_partition_materialises_from_the_ui(
    sqlite_app_db: AppDb, dagster_instance: DagsterInstance, jira_sandbox: JiraSandbox
) -> None:
    app_db = sqlite_app_db
    cipher = CredentialCipher.from_settings(app_db.settings)
    with app_db.commit() as session:
        tenant_id, _ = seed_tenant(session, "ui", cipher=cipher, jira=jira_sandbox)
    dagster_instance.add_dynamic_partitions("tenant", [str(tenant_id)])
    result = materialize(
        [raw_jira_issues, *build_model_assets(), key_result_values],
        partition_key=str(tenant_id),
        instance=dagster_instance,
        resources={"app_db": app_db.resource()},
    )
    assert result.success
    expected = live_values(app_db, tenant_id)
    for title, kr in key_results(app_db, tenant_id).items():
        assert kr.current_value == pytest.approx(expected[title] or kr.start_value), title
    assert str(tenant_id) in dagster_instance.get_materialized_partitions(VALUES_KEY)
    assert defs.resolve_assets_def(VALUES_KEY).check_specs_by_output_name
    with app_db.commit() as session, tenant_context(session, tenant_id):
        runs = session.scalars(select(SyncRun)).all()
        assert [r.trigger for r in runs] == [SyncTrigger.manual]
