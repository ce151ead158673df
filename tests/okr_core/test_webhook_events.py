"""Webhook deliveries: signatures over the raw body, dedupe on the delivery id, small summaries."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import tenants, webhook_events
from okr_core.models import Tenant, WebhookEvent
from okr_core.secrets import CredentialCipher
from okr_core.tenancy import bind_tenant, current_tenant, unbind_tenant
from okr_core.webhook_events import InvalidSignature, Outcome, UnknownWebhook, sign
from tests.okr_core.integration_support import cipher_for, make_github, make_jira

GITHUB_BODY = json.dumps(
    {
        "action": "closed",
        "number": 7,
        "pull_request": {"number": 7, "merged": True, "body": "secret design notes"},
        "repository": {"full_name": "acme/api"},
    }
).encode()
JIRA_BODY = json.dumps(
    {
        "timestamp": 1,
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10001", "key": "OPS-1", "fields": {"project": {"key": "OPS"}}},
        "changelog": {"items": [{"field": "status", "fromString": "To Do", "toString": "Done"}]},
    }
).encode()


@pytest.fixture
def cipher() -> CredentialCipher:
    return cipher_for()


@pytest.fixture
def tenant(session: Session) -> Tenant:
    return tenants.create_tenant(session, slug="acme", name="Acme")


def _github_headers(secret: str, body: bytes, delivery: str = "d-1") -> dict[str, str]:
    return {
        "X-Hub-Signature-256": sign(secret, body),
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": "pull_request",
    }


def test_github_documented_test_vector() -> None:
    assert sign("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def _events(session: Session) -> list[WebhookEvent]:
    return list(session.scalars(select(WebhookEvent)).all())


def test_valid_github_delivery_is_queued_with_a_summary_only(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_github(session, cipher)
    unbind_tenant(session)
    receipt = webhook_events.receive(
        session,
        cipher=cipher,
        source="github",
        integration_id=str(created.integration.id),
        body=GITHUB_BODY,
        headers=_github_headers(created.webhook_secret, GITHUB_BODY),
    )
    assert receipt.outcome is Outcome.queued
    assert receipt.tenant_id == tenant.id
    assert current_tenant(session) == tenant.id
    (event,) = _events(session)
    assert event.id == receipt.event_id
    assert event.delivery_id == "d-1"
    assert event.event_type == "pull_request"
    assert event.summary == {
        "event": "pull_request",
        "action": "closed",
        "repository": "acme/api",
        "pull_request": 7,
        "merged": True,
    }
    assert "secret design notes" not in json.dumps(event.summary)
    assert event.processed_at is None


def test_replayed_delivery_is_acknowledged_but_not_queued_twice(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_github(session, cipher)
    headers = _github_headers(created.webhook_secret, GITHUB_BODY)
    for expected in (Outcome.queued, Outcome.duplicate, Outcome.duplicate):
        receipt = webhook_events.receive(
            session,
            cipher=cipher,
            source="github",
            integration_id=created.integration.id,
            body=GITHUB_BODY,
            headers=headers,
        )
        assert receipt.outcome is expected
    assert len(_events(session)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "garbage"},
        {"X-Hub-Signature": "sha256=whatever"},
    ],
)
def test_bad_signature_is_refused_and_nothing_is_queued(
    session: Session, tenant: Tenant, cipher: CredentialCipher, headers: dict[str, str]
) -> None:
    bind_tenant(session, tenant.id)
    created = make_github(session, cipher)
    with pytest.raises(InvalidSignature) as excinfo:
        webhook_events.receive(
            session,
            cipher=cipher,
            source="github",
            integration_id=created.integration.id,
            body=GITHUB_BODY,
            headers={"X-GitHub-Delivery": "d-1", **headers},
        )
    assert excinfo.value.status == 401
    assert created.webhook_secret not in excinfo.value.message
    assert _events(session) == []


def test_signature_over_another_body_or_with_another_secret_fails(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_github(session, cipher)
    other = make_github(session, cipher, name="other")
    for secret, body in ((created.webhook_secret, b"{}"), (other.webhook_secret, GITHUB_BODY)):
        with pytest.raises(InvalidSignature):
            webhook_events.receive(
                session,
                cipher=cipher,
                source="github",
                integration_id=created.integration.id,
                body=GITHUB_BODY,
                headers=_github_headers(secret, body),
            )
    assert _events(session) == []


@pytest.mark.parametrize(
    "integration_id", ["5b22520a-0269-4428-8aa8-178846465c3a", "not-a-uuid", ""]
)
def test_unknown_integration_is_not_found(
    session: Session, tenant: Tenant, cipher: CredentialCipher, integration_id: str
) -> None:
    with pytest.raises(UnknownWebhook) as excinfo:
        webhook_events.receive(
            session,
            cipher=cipher,
            source="github",
            integration_id=integration_id,
            body=GITHUB_BODY,
            headers=_github_headers("x", GITHUB_BODY),
        )
    assert excinfo.value.status == 404
    assert excinfo.value.message == "no such webhook endpoint"


def test_delivery_to_the_other_vendors_endpoint_is_not_found(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_jira(session, cipher)
    with pytest.raises(UnknownWebhook):
        webhook_events.receive(
            session,
            cipher=cipher,
            source="github",
            integration_id=created.integration.id,
            body=GITHUB_BODY,
            headers=_github_headers(created.webhook_secret, GITHUB_BODY),
        )


def test_valid_jira_delivery_is_queued_and_deduplicated_on_the_webhook_identifier(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_jira(session, cipher)
    unbind_tenant(session)
    headers = {
        "X-Hub-Signature": sign(created.webhook_secret, JIRA_BODY),
        "X-Atlassian-Webhook-Identifier": "42-abc",
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    first = webhook_events.receive(
        session,
        cipher=cipher,
        source="jira",
        integration_id=created.integration.id,
        body=JIRA_BODY,
        headers=headers,
    )
    retry = webhook_events.receive(
        session,
        cipher=cipher,
        source="jira",
        integration_id=created.integration.id,
        body=JIRA_BODY,
        headers={**headers, "X-Atlassian-Webhook-Retry": "1"},
    )
    assert (first.outcome, retry.outcome) == (Outcome.queued, Outcome.duplicate)
    (event,) = _events(session)
    assert event.event_type == "jira:issue_updated"
    assert event.summary == {
        "event": "jira:issue_updated",
        "issue_id": "10001",
        "issue_key": "OPS-1",
        "project": "OPS",
        "changed_fields": ["status"],
    }


def test_jira_signature_header_is_not_the_github_one(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_jira(session, cipher)
    with pytest.raises(InvalidSignature, match="X-Hub-Signature"):
        webhook_events.receive(
            session,
            cipher=cipher,
            source="jira",
            integration_id=created.integration.id,
            body=JIRA_BODY,
            headers={
                "X-Hub-Signature-256": sign(created.webhook_secret, JIRA_BODY),
                "X-Atlassian-Webhook-Identifier": "1",
            },
        )


def test_missing_delivery_id_is_refused_after_the_signature_check(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_github(session, cipher)
    headers = _github_headers(created.webhook_secret, GITHUB_BODY)
    del headers["X-GitHub-Delivery"]
    with pytest.raises(webhook_events.ValidationFailed, match="X-GitHub-Delivery"):
        webhook_events.receive(
            session,
            cipher=cipher,
            source="github",
            integration_id=created.integration.id,
            body=GITHUB_BODY,
            headers=headers,
        )
    assert _events(session) == []


def test_paused_integration_acknowledges_without_queueing(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_github(session, cipher, is_paused=True)
    receipt = webhook_events.receive(
        session,
        cipher=cipher,
        source="github",
        integration_id=created.integration.id,
        body=GITHUB_BODY,
        headers=_github_headers(created.webhook_secret, GITHUB_BODY),
    )
    assert receipt.outcome is Outcome.ignored
    assert _events(session) == []


def test_body_that_is_not_json_still_queues_a_minimal_summary(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    bind_tenant(session, tenant.id)
    created = make_github(session, cipher)
    body = b"payload=%7B%7D"
    webhook_events.receive(
        session,
        cipher=cipher,
        source="github",
        integration_id=created.integration.id,
        body=body,
        headers=_github_headers(created.webhook_secret, body),
    )
    (event,) = _events(session)
    assert event.summary == {"event": "pull_request"}
