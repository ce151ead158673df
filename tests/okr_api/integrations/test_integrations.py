"""/api/v1/integrations: connect, reconfigure, pause, sync now, status; secrets never leak."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.integrations import credentials_of, webhook_secret_of
from okr_core.models import (
    AuditEvent,
    ErrorClass,
    Integration,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from okr_core.secrets import CredentialCipher
from okr_core.tenancy import tenant_context
from okr_sandboxes.api import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.integrations.conftest import World
from tests.okr_core.integration_support import GITHUB_TOKEN, JIRA_TOKEN

URL = "/api/v1/integrations"
NEW_JIRA_TOKEN = "ATATT3-brand-new-jira-token-from-the-api"


def _jira_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "jira",
        "name": "Jira Cloud",
        "base_url": "https://acme.atlassian.net/",
        "auth_kind": "api_token",
        "account": "robot@acme.example.com",
        "secret": NEW_JIRA_TOKEN,
    }
    body.update(overrides)
    return body


def _audit(session: Session, tenant: TenantWorld) -> list[AuditEvent]:
    with tenant_context(session, tenant.tenant.id):
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.occurred_at)).all())


def test_admin_connects_jira_and_sees_the_webhook_secret_once(
    admin: TestClient, session: Session, tenant_a: TenantWorld, cipher: CredentialCipher
) -> None:
    response = admin.post(URL, json=_jira_body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{URL}/{body['id']}"
    assert body["base_url"] == "https://acme.atlassian.net"
    assert body["credentials_set"] is True
    assert body["sync_interval_minutes"] == 60
    assert body["is_paused"] is False
    assert body["next_sync_at"] is not None
    assert "secret" not in body
    assert body["webhook"]["webhook_url"] == f"http://testserver/webhooks/jira/{body['id']}"
    assert body["webhook"]["signature_header"] == "X-Hub-Signature"
    secret = body["webhook"]["webhook_secret"]
    with tenant_context(session, tenant_a.tenant.id):
        row = session.get(Integration, uuid.UUID(body["id"]))
        assert row is not None
        assert credentials_of(row, cipher) == {"api_token": NEW_JIRA_TOKEN}
        assert webhook_secret_of(row, cipher) == secret
    again = admin.get(f"{URL}/{body['id']}")
    assert again.status_code == 200
    assert secret not in again.text
    assert "webhook" not in again.json()
    assert again.json()["webhook_url"].endswith(f"/webhooks/jira/{body['id']}")


def test_credentials_never_appear_in_answers_logs_or_audit(
    admin: TestClient,
    session: Session,
    tenant_a: TenantWorld,
    world_a: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = admin.post(URL, json=_jira_body(name="Second"))
    integration_id = created.json()["id"]
    answers = [
        admin.get(URL),
        admin.get(f"{URL}/{integration_id}"),
        admin.get(f"{URL}/status"),
        admin.patch(f"{URL}/{integration_id}", json={"secret": "ATATT-rotated-once-more"}),
        admin.patch(f"{URL}/{integration_id}", json={"is_paused": True}),
        admin.patch(f"{URL}/{integration_id}", json={"sync_interval_minutes": 3}),
        admin.patch(
            f"{URL}/{integration_id}",
            json={"base_url": "https://robot:ATATT-in-a-url@acme.atlassian.net"},
        ),
        admin.post(URL, json=_jira_body(name="Second", secret="ATATT-duplicate-name")),
        admin.post(URL, json=_jira_body(name="x", sync_interval_minutes=0, secret="ATATT-bad")),
        admin.post(f"{URL}/{world_a.github.integration.id}/sync"),
        admin.delete(f"{URL}/{integration_id}"),
    ]
    secrets = [
        NEW_JIRA_TOKEN,
        "ATATT-rotated-once-more",
        "ATATT-in-a-url",
        "ATATT-duplicate-name",
        "ATATT-bad",
        JIRA_TOKEN,
        GITHUB_TOKEN,
        world_a.github.webhook_secret,
        world_a.jira.webhook_secret,
    ]
    audit_text = repr([(e.action, e.changes) for e in _audit(session, tenant_a)])
    for secret in secrets:
        for answer in answers:
            assert secret not in answer.text, answer.request.url
        assert secret not in caplog.text
        assert secret not in audit_text
    assert "credentials_replaced" in audit_text


@pytest.mark.parametrize("minutes", [0, 4, 1441, 100_000])
def test_interval_outside_bounds_is_422(admin: TestClient, world_a: World, minutes: int) -> None:
    created = admin.post(URL, json=_jira_body(sync_interval_minutes=minutes))
    assert created.status_code == 422
    assert created.json()["errors"][0]["field"] == "sync_interval_minutes"
    patched = admin.patch(
        f"{URL}/{world_a.jira.integration.id}", json={"sync_interval_minutes": minutes}
    )
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "sync_interval_minutes"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"source": "salesforce"}, "source"),
        ({"auth_kind": "token"}, "auth_kind"),
        ({"account": "no-email"}, "account"),
        ({"secret": ""}, "secret"),
        ({"base_url": "not a url"}, "base_url"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_integration_names_the_field(
    admin: TestClient, tenant_a: TenantWorld, overrides: dict[str, Any], field: str
) -> None:
    response = admin.post(URL, json=_jira_body(**overrides))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_duplicate_name_is_409(admin: TestClient, world_a: World) -> None:
    response = admin.post(URL, json=_jira_body(name=world_a.jira.integration.name))
    assert response.status_code == 409


def test_admin_pauses_resumes_and_changes_the_interval(admin: TestClient, world_a: World) -> None:
    url = f"{URL}/{world_a.github.integration.id}"
    paused = admin.patch(url, json={"is_paused": True, "sync_interval_minutes": 15})
    assert paused.status_code == 200
    assert paused.json()["is_paused"] is True
    assert paused.json()["sync_interval_minutes"] == 15
    assert paused.json()["next_sync_at"] is None
    assert admin.post(f"{url}/sync").status_code == 409
    resumed = admin.patch(url, json={"is_paused": False})
    assert resumed.json()["is_paused"] is False
    assert resumed.json()["next_sync_at"] is not None


def test_null_in_a_patch_is_refused(admin: TestClient, world_a: World) -> None:
    response = admin.patch(f"{URL}/{world_a.github.integration.id}", json={"is_paused": None})
    assert response.status_code == 422


def test_sync_now_makes_the_integration_due_and_answers_202(
    admin: TestClient, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    row = world_a.github.integration
    row.next_sync_at = datetime.now(UTC) + timedelta(hours=1)
    session.flush()
    before = datetime.now(UTC)
    response = admin.post(f"{URL}/{row.id}/sync")
    assert response.status_code == 202
    due = datetime.fromisoformat(response.json()["next_sync_at"])
    assert before - timedelta(seconds=1) <= due <= datetime.now(UTC)
    actions = [(e.action, e.changes) for e in _audit(session, tenant_a)]
    assert actions[-1][0] == "integration.sync_requested"
    assert actions[-1][1]["trigger"] == "manual"


def test_webhook_secret_rotation_shows_the_new_secret_once(
    admin: TestClient,
    session: Session,
    tenant_a: TenantWorld,
    world_a: World,
    cipher: CredentialCipher,
) -> None:
    row = world_a.github.integration
    response = admin.post(f"{URL}/{row.id}/webhook-secret")
    assert response.status_code == 200
    body = response.json()
    assert body["signature_header"] == "X-Hub-Signature-256"
    assert body["webhook_url"].endswith(f"/webhooks/github/{row.id}")
    assert body["webhook_secret"] != world_a.github.webhook_secret
    with tenant_context(session, tenant_a.tenant.id):
        session.refresh(row)
        assert webhook_secret_of(row, cipher) == body["webhook_secret"]


def test_delete_disconnects(admin: TestClient, world_a: World) -> None:
    url = f"{URL}/{world_a.jira.integration.id}"
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404
    names = [item["name"] for item in admin.get(URL).json()["data"]]
    assert names == [world_a.github.integration.name]


def test_list_shows_only_this_tenants_integrations(
    editor: TestClient, world_a: World, world_b: World
) -> None:
    response = editor.get(URL)
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["data"]}
    assert ids == {str(world_a.jira.integration.id), str(world_a.github.integration.id)}


def test_status_reports_runs_rates_and_the_last_error(
    editor: TestClient, session: Session, tenant_a: TenantWorld, world_a: World, world_b: World
) -> None:
    now = datetime.now(UTC)
    row = world_a.jira.integration
    with tenant_context(session, tenant_a.tenant.id):
        for hours, status in ((30, SyncStatus.succeeded), (3, SyncStatus.succeeded)):
            session.add(
                SyncRun(
                    integration_id=row.id,
                    trigger=SyncTrigger.schedule,
                    status=status,
                    started_at=now - timedelta(hours=hours),
                    finished_at=now - timedelta(hours=hours) + timedelta(minutes=1),
                )
            )
        session.add(
            SyncRun(
                integration_id=row.id,
                trigger=SyncTrigger.webhook,
                status=SyncStatus.failed,
                started_at=now - timedelta(hours=1),
                finished_at=now - timedelta(hours=1) + timedelta(minutes=1),
                error_class=ErrorClass.permanent,
                message="Jira answered 401: the API token is wrong or expired; enter a new one",
            )
        )
        session.flush()
    response = editor.get(f"{URL}/status")
    assert response.status_code == 200
    statuses = {item["integration_id"]: item for item in response.json()["data"]}
    assert set(statuses) == {str(world_a.jira.integration.id), str(world_a.github.integration.id)}
    jira = statuses[str(row.id)]
    assert jira["success_rate_24h"] == 0.5
    assert jira["success_rate_7d"] == pytest.approx(2 / 3)
    assert (jira["runs_24h"], jira["runs_7d"]) == (2, 3)
    assert datetime.fromisoformat(jira["last_attempt_at"]) == now - timedelta(hours=1)
    assert datetime.fromisoformat(jira["last_success_at"]) == (
        now - timedelta(hours=3) + timedelta(minutes=1)
    )
    assert jira["next_sync_at"] is not None
    assert jira["healthy"] is False
    assert jira["last_error"]["error_class"] == "permanent"
    assert "enter a new one" in jira["last_error"]["message"]
    github = statuses[str(world_a.github.integration.id)]
    assert github["success_rate_24h"] is None
    assert github["last_error"] is None
    assert github["healthy"] is True
    assert jira["last_trigger"] == "webhook"  # the latest run
    assert github["last_trigger"] is None  # never ran
    assert github["sync_requested_at"] is None


def test_status_shows_a_sync_now_request_until_its_manual_run(
    admin: TestClient, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    row = world_a.github.integration
    assert admin.post(f"{URL}/{row.id}/sync").status_code == 202
    [pending] = [i for i in admin.get(f"{URL}/status").json()["data"] if i["name"] == row.name]
    assert pending["sync_requested_at"] is not None
    assert pending["last_trigger"] is None
    # The batched run starts the sync: the request is cleared and the run is manual.
    with tenant_context(session, tenant_a.tenant.id):
        session.refresh(row)
        assert row.sync_requested_at is not None
        row.sync_requested_at = None
        session.add(
            SyncRun(
                integration_id=row.id,
                trigger=SyncTrigger.manual,
                status=SyncStatus.succeeded,
                started_at=datetime.now(UTC),
                finished_at=datetime.now(UTC),
            )
        )
        session.flush()
    [done] = [i for i in admin.get(f"{URL}/status").json()["data"] if i["name"] == row.name]
    assert done["sync_requested_at"] is None
    assert done["last_trigger"] == "manual"


@pytest.fixture(scope="module")
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="api-tests", pulls=5) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def jira_sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="api-tests", issues=5) as sandbox:
        yield sandbox


def test_connection_test_against_the_github_sandbox(
    admin: TestClient, github_sandbox: GitHubSandbox
) -> None:
    created = admin.post(
        URL,
        json={
            "source": "github",
            "name": "Sandbox",
            "base_url": github_sandbox.base_url,
            "auth_kind": "token",
            "account": github_sandbox.owner,
            "secret": github_sandbox.token,
        },
    ).json()
    response = admin.post(f"{URL}/{created['id']}/test")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True, body
    assert body["account"]
    assert github_sandbox.token not in response.text


def test_connection_test_with_a_wrong_token_says_what_to_fix(
    admin: TestClient, jira_sandbox: JiraSandbox
) -> None:
    created = admin.post(
        URL,
        json=_jira_body(
            name="Sandbox",
            base_url=jira_sandbox.base_url,
            account=jira_sandbox.email,
            secret="ATATT-wrong-token",
        ),
    ).json()
    response = admin.post(f"{URL}/{created['id']}/test")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error_class"] == "permanent"
    assert body["detail"]
    assert "ATATT-wrong-token" not in response.text
