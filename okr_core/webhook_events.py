"""Webhook deliveries from GitHub and Jira: verify, deduplicate, queue a small summary.

A delivery arrives without a user or a tenant. :func:`receive` finds the integration's tenant
through :func:`okr_core.tenancy.tenant_for_integration` (the one sanctioned cross-tenant lookup,
which reveals only the owner), binds that tenant and does everything else under normal scoping:

1. unknown integration, or one of another source: :class:`UnknownWebhook` (404, revealing
   nothing about whether the id exists);
2. signature: HMAC-SHA256 of the **raw body** with the integration's webhook secret, compared in
   constant time (``hmac.compare_digest``) with GitHub's ``X-Hub-Signature-256`` or Jira Cloud's
   ``X-Hub-Signature`` (both ``sha256=<hex>``); missing or wrong: :class:`InvalidSignature` (401)
   and nothing is stored;
3. deduplication on the vendor's delivery id (``X-GitHub-Delivery``,
   ``X-Atlassian-Webhook-Identifier``), backed by the unique constraint on (integration, delivery
   id): a replay is acknowledged as ``duplicate`` and queues nothing;
4. a paused integration acknowledges the delivery as ``ignored`` without queueing;
5. otherwise one :class:`WebhookEvent` is queued with a small summary (event type, action, record
   ids) and never the raw body; the webhook sensor turns queued events into a sync run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okr_core.errors import NotFound, OkrError, ValidationFailed
from okr_core.integrations import webhook_secret_of
from okr_core.models import Integration, Source, WebhookEvent
from okr_core.secrets import CredentialCipher
from okr_core.tenancy import bind_tenant, tenant_for_integration

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_SUMMARY_TEXT = 200
MAX_SUMMARY_ITEMS = 20


class UnknownWebhook(NotFound):
    code = "unknown_webhook"


class InvalidSignature(OkrError):
    status = 401
    code = "invalid_signature"


class Outcome(StrEnum):
    queued = "queued"
    duplicate = "duplicate"
    ignored = "ignored"  # the integration is paused


@dataclass(frozen=True, slots=True)
class Receipt:
    outcome: Outcome
    tenant_id: uuid.UUID
    integration_id: uuid.UUID
    delivery_id: str
    event_type: str
    event_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Vendor:
    signature_header: str
    delivery_header: str
    event_header: str | None


VENDORS: dict[Source, _Vendor] = {
    Source.github: _Vendor("x-hub-signature-256", "x-github-delivery", "x-github-event"),
    Source.jira: _Vendor("x-hub-signature", "x-atlassian-webhook-identifier", None),
}


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``: how both vendors sign deliveries."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def receive(
    session: Session,
    *,
    cipher: CredentialCipher,
    source: Source | str,
    integration_id: uuid.UUID | str,
    body: bytes,
    headers: Mapping[str, str],
) -> Receipt:
    """Verify and queue one delivery; see the module docstring for the outcomes."""
    source = Source(source)
    vendor = VENDORS[source]
    integration = _resolve(session, source=source, integration_id=integration_id)
    lowered = {key.lower(): value for key, value in headers.items()}
    secret = webhook_secret_of(integration, cipher)
    if secret is None or not signature_matches(secret, body, lowered.get(vendor.signature_header)):
        raise InvalidSignature(
            f"missing or wrong {_title(vendor.signature_header)} signature; check that the "
            "webhook's secret is the one this integration issued"
        )
    delivery_id = (lowered.get(vendor.delivery_header) or "").strip()
    if not delivery_id or len(delivery_id) > 200:
        raise ValidationFailed(
            f"the {_title(vendor.delivery_header)} header is missing or too long",
            details={"field": vendor.delivery_header},
        )
    payload = _json(body)
    event_type = _event_type(source, lowered, payload)
    receipt = Receipt(
        outcome=Outcome.queued,
        tenant_id=integration.tenant_id,
        integration_id=integration.id,
        delivery_id=delivery_id,
        event_type=event_type,
    )
    if _already_seen(session, integration.id, delivery_id):
        return replace(receipt, outcome=Outcome.duplicate)
    if integration.is_paused:
        return replace(receipt, outcome=Outcome.ignored)
    event = WebhookEvent(
        integration_id=integration.id,
        delivery_id=delivery_id,
        event_type=event_type,
        summary=summarise(source, event_type, payload),
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        # The same delivery raced in on another connection: the first one wins.
        return replace(receipt, outcome=Outcome.duplicate)
    return replace(receipt, event_id=event.id)


def summarise(source: Source, event_type: str, payload: Any) -> dict[str, Any]:
    """What the sensor and the status page need to know; never the raw body."""
    summary: dict[str, Any] = {"event": _short(event_type)}
    if not isinstance(payload, dict):
        return summary
    if source is Source.github:
        action = payload.get("action")
        if isinstance(action, str):
            summary["action"] = _short(action)
        repository = payload.get("repository")
        if isinstance(repository, dict) and isinstance(repository.get("full_name"), str):
            summary["repository"] = _short(repository["full_name"])
        pull = payload.get("pull_request")
        if isinstance(pull, dict):
            if isinstance(pull.get("number"), int):
                summary["pull_request"] = pull["number"]
            if isinstance(pull.get("merged"), bool):
                summary["merged"] = pull["merged"]
        return summary
    issue = payload.get("issue")
    if isinstance(issue, dict):
        for key in ("id", "key"):
            if isinstance(issue.get(key), str | int):
                summary[f"issue_{key}"] = _short(str(issue[key]))
        fields = issue.get("fields")
        project = fields.get("project") if isinstance(fields, dict) else None
        if isinstance(project, dict) and isinstance(project.get("key"), str):
            summary["project"] = _short(project["key"])
    changelog = payload.get("changelog")
    items = changelog.get("items") if isinstance(changelog, dict) else None
    if isinstance(items, list):
        changed = [
            _short(item["field"])
            for item in items[:MAX_SUMMARY_ITEMS]
            if isinstance(item, dict) and isinstance(item.get("field"), str)
        ]
        if changed:
            summary["changed_fields"] = changed
    return summary


def _resolve(session: Session, *, source: Source, integration_id: uuid.UUID | str) -> Integration:
    not_found = UnknownWebhook("no such webhook endpoint")
    try:
        parsed = (
            integration_id
            if isinstance(integration_id, uuid.UUID)
            else uuid.UUID(str(integration_id))
        )
    except ValueError:
        raise not_found from None
    tenant_id = tenant_for_integration(session, parsed)
    if tenant_id is None:
        raise not_found
    bind_tenant(session, tenant_id)
    integration = session.scalars(select(Integration).where(Integration.id == parsed)).one_or_none()
    if integration is None or integration.source is not source:
        raise not_found
    return integration


def _already_seen(session: Session, integration_id: uuid.UUID, delivery_id: str) -> bool:
    stmt = select(WebhookEvent.id).where(
        WebhookEvent.integration_id == integration_id, WebhookEvent.delivery_id == delivery_id
    )
    return session.scalars(stmt).first() is not None


def _event_type(source: Source, headers: Mapping[str, str], payload: Any) -> str:
    vendor = VENDORS[source]
    if vendor.event_header is not None:
        value = headers.get(vendor.event_header, "")
    else:
        value = payload.get("webhookEvent", "") if isinstance(payload, dict) else ""
    return _short(value if isinstance(value, str) else "", limit=100)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _short(value: str, *, limit: int = MAX_SUMMARY_TEXT) -> str:
    return value if len(value) <= limit else value[:limit]


def _title(header: str) -> str:
    return "-".join(
        part.capitalize() if part != "github" else "GitHub" for part in header.split("-")
    )
