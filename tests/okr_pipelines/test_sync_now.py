""" "Sync now" end to end: the request is claimed first, run with trigger manual, and cleared
when its sync starts; the sync after it is a scheduled one again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from dagster import DagsterInstance, RunRequest, SensorResult, build_sensor_context
from sqlalchemy import select, update

from okr_core import integration_status, integrations
from okr_core.models import Integration, SyncRun, SyncTrigger
from okr_core.secrets import CredentialCipher
from okr_core.sync_schedule import claim_due_integrations, clear_sync_request
from okr_core.tenancy import tenant_context
from okr_pipelines.jobs import sync_batch_job
from okr_pipelines.sensors import sync_due_sensor
from okr_sandboxes import run_github_sandbox
from tests.okr_core.sources.support import ACTOR, seed_tenant
from tests.okr_pipelines.conftest import AppDb
from tests.okr_pipelines.test_sync_sensors import add_integrations

LATER = datetime.now(UTC) + timedelta(hours=1)


def evaluate_due(instance: DagsterInstance, app_db: AppDb) -> list[RunRequest]:
    with build_sensor_context(
        instance=instance, resources={"app_db": app_db.resource()}
    ) as context:
        result = sync_due_sensor(context)
    assert isinstance(result, SensorResult)
    return list(result.run_requests or [])


def items_of(request: RunRequest) -> list[dict[str, object]]:
    items = request.run_config["ops"]["sync_batch"]["config"]["items"]
    assert isinstance(items, list)
    return items


def press_sync_now(app_db: AppDb, tenant_id: uuid.UUID, integration_id: uuid.UUID) -> None:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        integrations.request_sync(session, actor=ACTOR, integration_id=integration_id)


def integration_row(app_db: AppDb, tenant_id: uuid.UUID, integration_id: uuid.UUID) -> Integration:
    with app_db.commit() as session, tenant_context(session, tenant_id):
        row = session.get(Integration, integration_id)
        assert row is not None
        return row


def test_sync_now_is_recorded_as_manual_and_the_next_sync_as_scheduled(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    cipher = CredentialCipher.from_settings(app_db.settings)
    with run_github_sandbox(seed="sync-now", pulls=30) as sandbox:
        with app_db.commit() as session:
            tenant_id, ids = seed_tenant(
                session, "pressed", cipher=cipher, github=sandbox, next_sync_at=LATER
            )
        github = ids["github"]
        press_sync_now(app_db, tenant_id, github)
        assert integration_row(app_db, tenant_id, github).sync_requested_at is not None

        [request] = evaluate_due(dagster_instance, app_db)
        assert request.tags["okr/trigger"] == "manual"
        assert str(request.run_key).startswith("manual:github:")
        [item] = items_of(request)
        assert item["integration_id"] == str(github)
        assert item["sync_requested_at"] is not None

        result = sync_batch_job.execute_in_process(
            run_config=request.run_config,
            instance=dagster_instance,
            resources={"app_db": app_db.resource()},
        )
        assert result.success
        assert integration_row(app_db, tenant_id, github).sync_requested_at is None
        with app_db.commit() as session, tenant_context(session, tenant_id):
            [run] = session.scalars(select(SyncRun)).all()
            assert run.trigger is SyncTrigger.manual
            [status] = integration_status.integration_statuses(session)
            assert status.last_trigger is SyncTrigger.manual
            assert status.sync_requested_at is None

        # The interval passes: the next sync is the schedule's, not another manual one.
        with app_db.commit() as session, tenant_context(session, tenant_id):
            session.execute(
                update(Integration).values(next_sync_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        [request] = evaluate_due(dagster_instance, app_db)
        assert request.tags["okr/trigger"] == "schedule"
        assert items_of(request)[0].get("sync_requested_at") is None
        assert sync_batch_job.execute_in_process(
            run_config=request.run_config,
            instance=dagster_instance,
            resources={"app_db": app_db.resource()},
        ).success
        with app_db.commit() as session, tenant_context(session, tenant_id):
            triggers = [
                run.trigger for run in session.scalars(select(SyncRun).order_by(SyncRun.started_at))
            ]
            [status] = integration_status.integration_statuses(session)
        assert triggers == [SyncTrigger.manual, SyncTrigger.schedule]
        assert status.last_trigger is SyncTrigger.schedule


def test_requested_syncs_run_apart_from_scheduled_ones_and_first(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    scheduled = add_integrations(app_db, 3, prefix="scheduled")
    pressed = add_integrations(app_db, 2, next_sync_at=LATER, prefix="pressed")
    for tenant_id in pressed:
        with app_db.commit() as session, tenant_context(session, tenant_id):
            integration_id = session.scalars(select(Integration.id)).one()
            integrations.request_sync(session, actor=ACTOR, integration_id=integration_id)
    requests = evaluate_due(dagster_instance, app_db)
    by_trigger = {r.tags["okr/trigger"]: r for r in requests}
    assert sorted(by_trigger) == ["manual", "schedule"]
    assert {i["tenant_id"] for i in items_of(by_trigger["manual"])} == {str(t) for t in pressed}
    assert all(i["sync_requested_at"] for i in items_of(by_trigger["manual"]))
    assert {i["tenant_id"] for i in items_of(by_trigger["schedule"])} == {str(t) for t in scheduled}
    # With room for only two claims, the requests are claimed before older scheduled syncs.
    for tenant_id in pressed:
        with app_db.commit() as session, tenant_context(session, tenant_id):
            integration_id = session.scalars(select(Integration.id)).one()
            integrations.request_sync(session, actor=ACTOR, integration_id=integration_id)
    for tenant_id in scheduled:
        with app_db.commit() as session, tenant_context(session, tenant_id):
            session.execute(
                update(Integration).values(next_sync_at=datetime.now(UTC) - timedelta(days=1))
            )
    with app_db.commit() as session:
        claimed = claim_due_integrations(session, now=datetime.now(UTC), limit=2)
    assert {d.tenant_id for d in claimed} == set(pressed)
    assert all(d.manual for d in claimed)


def test_a_press_after_the_claim_survives_the_earlier_syncs_start(app_db: AppDb) -> None:
    [tenant_id] = add_integrations(app_db, 1, next_sync_at=LATER, prefix="twice")
    first = datetime.now(UTC) - timedelta(minutes=5)
    second = first + timedelta(minutes=2)
    with app_db.commit() as session, tenant_context(session, tenant_id):
        integration_id = session.scalars(select(Integration.id)).one()
        integrations.request_sync(session, actor=ACTOR, integration_id=integration_id, now=first)
        # Pressing again before the sync starts keeps the first request.
        integrations.request_sync(session, actor=ACTOR, integration_id=integration_id, now=second)
        assert session.get(Integration, integration_id).sync_requested_at == first  # type: ignore[union-attr]
    with app_db.commit() as session, tenant_context(session, tenant_id):
        # The row was claimed with the first request; a later press moved the stamp on.
        session.execute(update(Integration).values(sync_requested_at=second))
        assert not clear_sync_request(session, integration_id=integration_id, requested_at=first)
        assert clear_sync_request(session, integration_id=integration_id, requested_at=second)
    assert integration_row(app_db, tenant_id, integration_id).sync_requested_at is None


def test_pausing_withdraws_a_pending_request(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    [tenant_id] = add_integrations(app_db, 1, next_sync_at=LATER, prefix="withdrawn")
    cipher = CredentialCipher.from_settings(app_db.settings)
    with app_db.commit() as session, tenant_context(session, tenant_id):
        integration_id = session.scalars(select(Integration.id)).one()
        integrations.request_sync(session, actor=ACTOR, integration_id=integration_id)
        integrations.set_paused(
            session, actor=ACTOR, cipher=cipher, integration_id=integration_id, paused=True
        )
        integrations.set_paused(
            session, actor=ACTOR, cipher=cipher, integration_id=integration_id, paused=False
        )
    assert integration_row(app_db, tenant_id, integration_id).sync_requested_at is None
    [request] = evaluate_due(dagster_instance, app_db)
    assert request.tags["okr/trigger"] == "schedule"
