"""The sync sensors: due integrations in batches, webhook events to runs, failed runs recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
)
from sqlalchemy import select

from okr_core import webhook_events
from okr_core.integrations import rotate_webhook_secret
from okr_core.models import (
    AuthKind,
    Integration,
    Notification,
    Source,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    TenantStatus,
    WebhookEvent,
)
from okr_core.secrets import CredentialCipher
from okr_core.tenancy import tenant_context
from okr_pipelines.jobs import sync_batch_job
from okr_pipelines.sensors import (
    sync_due_sensor,
    sync_failure_sensor,
    webhook_events_sensor,
)
from okr_sandboxes import run_github_sandbox
from tests.okr_core.sources.support import ACTOR, create_tenant, seed_tenant
from tests.okr_pipelines.conftest import AppDb

PAST = datetime.now(UTC) - timedelta(minutes=1)


def add_integrations(
    app_db: AppDb,
    count: int,
    *,
    source: Source = Source.jira,
    next_sync_at: datetime | None = PAST,
    paused: bool = False,
    prefix: str = "due",
) -> list[uuid.UUID]:
    """``count`` tenants with one integration each (bulk rows: no sandbox is contacted)."""
    cipher = CredentialCipher.from_settings(app_db.settings)
    ciphertext = cipher.encrypt({"api_token": "unused"})
    tenant_ids = []
    with app_db.commit() as session:
        for index in range(count):
            tenant_id = create_tenant(session, f"{prefix}-{index}")
            tenant_ids.append(tenant_id)
            with tenant_context(session, tenant_id):
                session.add(
                    Integration(
                        source=source,
                        name="primary",
                        base_url="https://example.atlassian.net",
                        auth_kind=AuthKind.api_token if source is Source.jira else AuthKind.token,
                        account="bot@example.com",
                        credentials_ciphertext=ciphertext,
                        is_paused=paused,
                        next_sync_at=None if paused else next_sync_at,
                    )
                )
    return tenant_ids


def evaluate_due(instance: DagsterInstance, app_db: AppDb) -> SensorResult | SkipReason:
    with build_sensor_context(
        instance=instance, resources={"app_db": app_db.resource()}
    ) as context:
        result = sync_due_sensor(context)
    assert isinstance(result, SensorResult | SkipReason)
    return result


def items_of(request: RunRequest) -> list[dict[str, object]]:
    items = request.run_config["ops"]["sync_batch"]["config"]["items"]
    assert isinstance(items, list)
    return items


@pytest.mark.slow
def test_250_due_tenants_give_3_run_requests_not_250(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    tenant_ids = add_integrations(app_db, 250)
    result = evaluate_due(dagster_instance, app_db)
    assert isinstance(result, SensorResult)
    requests = result.run_requests or []
    assert len(requests) == 3
    assert sorted(len(items_of(r)) for r in requests) == [50, 100, 100]
    requested = {item["tenant_id"] for r in requests for item in items_of(r)}
    assert requested == {str(t) for t in tenant_ids}
    assert all(r.tags["okr/source"] == "jira" for r in requests)
    assert len({r.run_key for r in requests}) == 3
    # Claimed: the next tick requests nothing until the interval has passed again.
    assert isinstance(evaluate_due(dagster_instance, app_db), SkipReason)
    with app_db.commit() as session, tenant_context(session, tenant_ids[0]):
        integration = session.scalars(select(Integration)).one()
        assert integration.next_sync_at is not None
        assert integration.next_sync_at > datetime.now(UTC) + timedelta(minutes=50)


def test_paused_not_yet_due_and_suspended_tenants_are_not_requested(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    add_integrations(app_db, 2, paused=True, prefix="paused")
    add_integrations(app_db, 2, next_sync_at=datetime.now(UTC) + timedelta(hours=1), prefix="later")
    [suspended] = add_integrations(app_db, 1, prefix="suspended")
    app_db.set_status(suspended, TenantStatus.suspended)
    due = add_integrations(app_db, 3, source=Source.github, prefix="github")
    result = evaluate_due(dagster_instance, app_db)
    assert isinstance(result, SensorResult)
    [request] = result.run_requests or []
    assert request.tags["okr/source"] == "github"
    assert {item["tenant_id"] for item in items_of(request)} == {str(t) for t in due}


def github_delivery(secret: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"action": "closed", "pull_request": {"number": 1, "merged": True}}).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": "pull_request",
    }
    return body, headers


@pytest.mark.slow
def test_a_signed_webhook_triggers_a_sync_of_its_tenant(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    cipher = CredentialCipher.from_settings(app_db.settings)
    with run_github_sandbox(seed="webhook", pulls=40) as sandbox:
        with app_db.commit() as session:
            tenant_id, integrations = seed_tenant(session, "hooked", cipher=cipher, github=sandbox)
            with tenant_context(session, tenant_id):
                secret = rotate_webhook_secret(
                    session, actor=ACTOR, integration_id=integrations["github"], cipher=cipher
                ).webhook_secret
            other_id = create_tenant(session, "quiet")
        with app_db.commit() as session:
            body, headers = github_delivery(secret, "delivery-1")
            receipt = webhook_events.receive(
                session,
                cipher=cipher,
                source=Source.github,
                integration_id=integrations["github"],
                body=body,
                headers=headers,
            )
            assert receipt.event_id is not None
        with app_db.commit() as session:
            # The same delivery again (a replay) and a delivery for an unknown integration
            # queue nothing.
            replay = webhook_events.receive(
                session,
                cipher=cipher,
                source=Source.github,
                integration_id=integrations["github"],
                body=body,
                headers=headers,
            )
            assert replay.event_id is None
            with pytest.raises(webhook_events.UnknownWebhook):
                webhook_events.receive(
                    session,
                    cipher=cipher,
                    source=Source.github,
                    integration_id=uuid.uuid4(),
                    body=body,
                    headers=headers,
                )
        with app_db.commit() as session:
            bad, bad_headers = github_delivery("wrong secret", "delivery-2")
            with pytest.raises(webhook_events.InvalidSignature):
                webhook_events.receive(
                    session,
                    cipher=cipher,
                    source=Source.github,
                    integration_id=integrations["github"],
                    body=bad,
                    headers=bad_headers,
                )

        with build_sensor_context(
            instance=dagster_instance, resources={"app_db": app_db.resource()}
        ) as context:
            result = webhook_events_sensor(context)
        assert isinstance(result, SensorResult)
        [request] = result.run_requests or []
        assert result.cursor == str(receipt.event_id)
        assert request.tags["okr/trigger"] == "webhook"
        [item] = items_of(request)
        assert item["tenant_id"] == str(tenant_id)
        assert item["event_up_to"] == receipt.event_id
        assert str(other_id) not in json.dumps(request.run_config)

        run = sync_batch_job.execute_in_process(
            run_config=request.run_config,
            instance=dagster_instance,
            resources={"app_db": app_db.resource()},
        )
        assert run.success
    with app_db.commit() as session, tenant_context(session, tenant_id):
        event = session.scalars(select(WebhookEvent)).one()
        assert event.processed_at is not None
        [sync_run] = session.scalars(select(SyncRun)).all()
        assert sync_run.trigger is SyncTrigger.webhook
        assert sync_run.status is SyncStatus.succeeded
    # The cursor moved past the event, and processed events are not picked up again.
    with build_sensor_context(
        instance=dagster_instance, resources={"app_db": app_db.resource()}, cursor=result.cursor
    ) as context:
        assert isinstance(webhook_events_sensor(context), SkipReason)
    with build_sensor_context(
        instance=dagster_instance, resources={"app_db": app_db.resource()}
    ) as context:
        assert isinstance(webhook_events_sensor(context), SkipReason)


def test_a_failed_batch_run_closes_the_syncs_it_left_running(
    sqlite_app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    app_db = sqlite_app_db
    [tenant_id] = add_integrations(app_db, 1, prefix="crashed")
    with app_db.commit() as session, tenant_context(session, tenant_id):
        integration = session.scalars(select(Integration)).one()
        session.add(
            SyncRun(
                integration_id=integration.id,
                trigger=SyncTrigger.schedule,
                status=SyncStatus.running,
                dagster_run_id="placeholder",
            )
        )
        integration_id = integration.id
    run = dagster_instance.create_run_for_job(
        sync_batch_job,
        run_config={
            "ops": {
                "sync_batch": {
                    "config": {
                        "source": "jira",
                        "items": [
                            {"tenant_id": str(tenant_id), "integration_id": str(integration_id)}
                        ],
                    }
                }
            }
        },
    )
    with app_db.commit() as session, tenant_context(session, tenant_id):
        row = session.scalars(select(SyncRun)).one()
        row.dagster_run_id = run.run_id
    dagster_instance.report_run_failed(run, "the run worker was killed")
    failed_run = dagster_instance.get_run_by_id(run.run_id)
    assert failed_run is not None
    assert failed_run.status is DagsterRunStatus.FAILURE
    records = dagster_instance.get_records_for_run(run.run_id).records
    failure_event = next(
        r.event_log_entry.dagster_event
        for r in records
        if r.event_log_entry.dagster_event is not None
        and r.event_log_entry.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )
    with build_run_status_sensor_context(
        sensor_name="sync_failure_sensor",
        dagster_instance=dagster_instance,
        dagster_run=failed_run,
        dagster_event=failure_event,
        resources={"app_db": app_db.resource()},
    ).for_run_failure() as context:
        sync_failure_sensor(context)
    with app_db.commit() as session, tenant_context(session, tenant_id):
        row = session.scalars(select(SyncRun)).one()
        assert row.status is SyncStatus.failed
        assert "the run worker was killed" in (row.message or "")
        integration = session.scalars(select(Integration)).one()
        assert integration.last_error_message == row.message
        [notification] = session.scalars(select(Notification)).all()
        assert notification.subject_id == integration.id
        assert notification.body == row.message
