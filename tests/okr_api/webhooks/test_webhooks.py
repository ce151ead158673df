"""POST /webhooks/{github,jira}/{integration_id}: 202 at once, verified, deduplicated."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.models import WebhookEvent
from okr_core.tenancy import tenant_context
from okr_core.webhook_events import sign
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.integrations.conftest import World

PR_MERGED = json.dumps(
    {
        "action": "closed",
        "pull_request": {"number": 12, "merged": True, "title": "Add caching"},
        "repository": {"full_name": "acme/api"},
    }
).encode()
ISSUE_UPDATED = json.dumps(
    {
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10001", "key": "ENG-1", "fields": {"project": {"key": "ENG"}}},
    }
).encode()


def _github(secret: str, body: bytes = PR_MERGED, delivery: str = "guid-1") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(secret, body),
    }


def _jira(secret: str, body: bytes = ISSUE_UPDATED, identifier: str = "77") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": identifier,
        "X-Hub-Signature": sign(secret, body),
    }


def _events(session: Session, tenant: TenantWorld) -> list[WebhookEvent]:
    with tenant_context(session, tenant.tenant.id):
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all())


def test_signed_github_delivery_is_queued_without_a_session_or_csrf(
    anonymous: TestClient, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    integration = world_a.github.integration
    response = anonymous.post(
        f"/webhooks/github/{integration.id}",
        content=PR_MERGED,
        headers=_github(world_a.github.webhook_secret),
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "queued", "delivery_id": "guid-1"}
    (event,) = _events(session, tenant_a)
    assert event.integration_id == integration.id
    assert event.summary["merged"] is True
    assert event.summary["repository"] == "acme/api"
    assert "Add caching" not in json.dumps(event.summary)


def test_signed_jira_delivery_is_queued(
    anonymous: TestClient, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    response = anonymous.post(
        f"/webhooks/jira/{world_a.jira.integration.id}",
        content=ISSUE_UPDATED,
        headers=_jira(world_a.jira.webhook_secret),
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    (event,) = _events(session, tenant_a)
    assert event.event_type == "jira:issue_updated"
    assert event.summary["issue_key"] == "ENG-1"


def test_bad_signature_is_401_and_nothing_is_queued(
    anonymous: TestClient,
    session: Session,
    tenant_a: TenantWorld,
    world_a: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"/webhooks/github/{world_a.github.integration.id}"
    wrong_secret = anonymous.post(url, content=PR_MERGED, headers=_github("not-the-secret"))
    tampered = anonymous.post(
        url,
        content=PR_MERGED + b" ",
        headers=_github(world_a.github.webhook_secret),
    )
    unsigned = anonymous.post(url, content=PR_MERGED, headers={"X-GitHub-Delivery": "guid-9"})
    for response in (wrong_secret, tampered, unsigned):
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_signature"
        assert "www-authenticate" not in response.headers
    assert _events(session, tenant_a) == []
    assert world_a.github.webhook_secret not in caplog.text


def test_replayed_delivery_is_acknowledged_as_duplicate_and_not_queued_twice(
    anonymous: TestClient, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    url = f"/webhooks/github/{world_a.github.integration.id}"
    headers = _github(world_a.github.webhook_secret)
    first = anonymous.post(url, content=PR_MERGED, headers=headers)
    replay = anonymous.post(url, content=PR_MERGED, headers=headers)
    assert first.json()["status"] == "queued"
    assert replay.status_code == 202
    assert replay.json() == {"status": "duplicate", "delivery_id": "guid-1"}
    assert len(_events(session, tenant_a)) == 1
    other = anonymous.post(
        url, content=PR_MERGED, headers=_github(world_a.github.webhook_secret, delivery="guid-2")
    )
    assert other.json()["status"] == "queued"
    assert len(_events(session, tenant_a)) == 2


@pytest.mark.parametrize("integration_id", ["unknown", "not-a-uuid"])
def test_unknown_integration_is_404_and_reveals_nothing(
    anonymous: TestClient, world_a: World, integration_id: str
) -> None:
    target = str(uuid.uuid4()) if integration_id == "unknown" else integration_id
    response = anonymous.post(
        f"/webhooks/github/{target}",
        content=PR_MERGED,
        headers=_github(world_a.github.webhook_secret),
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "no such webhook endpoint"


def test_delivery_to_the_other_vendors_path_is_404(anonymous: TestClient, world_a: World) -> None:
    response = anonymous.post(
        f"/webhooks/github/{world_a.jira.integration.id}",
        content=PR_MERGED,
        headers=_github(world_a.jira.webhook_secret),
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "no such webhook endpoint"


def test_one_tenants_secret_does_not_open_another_tenants_endpoint(
    anonymous: TestClient,
    session: Session,
    tenant_b: TenantWorld,
    world_a: World,
    world_b: World,
) -> None:
    response = anonymous.post(
        f"/webhooks/github/{world_b.github.integration.id}",
        content=PR_MERGED,
        headers=_github(world_a.github.webhook_secret),
    )
    assert response.status_code == 401
    assert _events(session, tenant_b) == []


def test_events_land_in_the_owning_tenant_only(
    anonymous: TestClient,
    session: Session,
    tenant_a: TenantWorld,
    tenant_b: TenantWorld,
    world_a: World,
    world_b: World,
) -> None:
    response = anonymous.post(
        f"/webhooks/github/{world_b.github.integration.id}",
        content=PR_MERGED,
        headers=_github(world_b.github.webhook_secret),
    )
    assert response.status_code == 202
    assert _events(session, tenant_a) == []
    assert len(_events(session, tenant_b)) == 1


def test_paused_integration_acknowledges_without_queueing(
    anonymous: TestClient, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    with tenant_context(session, tenant_a.tenant.id):
        world_a.github.integration.is_paused = True
        session.flush()
    response = anonymous.post(
        f"/webhooks/github/{world_a.github.integration.id}",
        content=PR_MERGED,
        headers=_github(world_a.github.webhook_secret),
    )
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert _events(session, tenant_a) == []


def test_missing_delivery_id_is_422_after_a_valid_signature(
    anonymous: TestClient, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    headers = _github(world_a.github.webhook_secret)
    del headers["X-GitHub-Delivery"]
    response = anonymous.post(
        f"/webhooks/github/{world_a.github.integration.id}", content=PR_MERGED, headers=headers
    )
    assert response.status_code == 422
    assert "X-GitHub-Delivery" in response.json()["detail"]
    assert _events(session, tenant_a) == []


def test_oversized_body_is_413(anonymous: TestClient, world_a: World) -> None:
    body = b"x" * (5 * 1024 * 1024 + 1)
    response = anonymous.post(
        f"/webhooks/github/{world_a.github.integration.id}",
        content=body,
        headers=_github(world_a.github.webhook_secret, body),
    )
    assert response.status_code == 413
