"""What the integration routes share: the credential cipher dependency and read mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.database import SettingsDep
from okr_api.integrations.schemas import (
    BindingRead,
    ConnectionTestRead,
    IntegrationRead,
    LineageRead,
    WebhookSecretIssued,
)
from okr_core import integrations
from okr_core.integrations import IssuedSecret
from okr_core.models import CheckIn, CheckInSource, ErrorClass, Integration, KrBinding, Source
from okr_core.secrets import CredentialCipher, CredentialsUnreadable
from okr_core.sources.errors import SourceError
from okr_core.sources.registry import connector_for
from okr_core.sources.retry import PREVIEW_RETRY
from okr_core.webhook_events import VENDORS

WEBHOOK_ROUTE_NAMES = {Source.github: "webhook_github", Source.jira: "webhook_jira"}
SIGNATURE_HEADERS = {
    Source.github: "X-Hub-Signature-256",
    Source.jira: "X-Hub-Signature",
}


def get_cipher(request: Request, settings: SettingsDep) -> CredentialCipher:
    """One cipher per app, built on first use from the app's settings."""
    cipher = getattr(request.app.state, "credential_cipher", None)
    if not isinstance(cipher, CredentialCipher):
        cipher = CredentialCipher.from_settings(settings)
        request.app.state.credential_cipher = cipher
    return cipher


CipherDep = Annotated[CredentialCipher, Depends(get_cipher)]


def webhook_url(request: Request, integration: Integration) -> str:
    route = WEBHOOK_ROUTE_NAMES.get(integration.source)
    if route is None:
        return ""
    return str(request.url_for(route, integration_id=str(integration.id)))


def integration_read(request: Request, integration: Integration) -> IntegrationRead:
    return IntegrationRead.of(integration, webhook_url=webhook_url(request, integration))


def secret_issued(request: Request, issued: IssuedSecret) -> WebhookSecretIssued:
    integration = issued.integration
    assert integration.source in VENDORS
    return WebhookSecretIssued(
        webhook_url=webhook_url(request, integration),
        webhook_secret=issued.webhook_secret,
        signature_header=SIGNATURE_HEADERS[integration.source],
    )


def test_connection(integration: Integration, cipher: CredentialCipher) -> ConnectionTestRead:
    """Run the connector's connection check with the quick retry policy an admin can wait for.

    Source errors become ``ok=false`` answers; their messages are written by the connectors
    without credentials or response bodies.
    """
    try:
        connector = connector_for(integration, cipher, retry=PREVIEW_RETRY)
        try:
            check = connector.check_connection()
        finally:
            close = getattr(connector, "close", None)
            if callable(close):
                close()
    except SourceError as exc:
        return ConnectionTestRead(
            ok=False, account="", detail=exc.message, error_class=exc.error_class
        )
    except CredentialsUnreadable as exc:
        return ConnectionTestRead(
            ok=False, account="", detail=exc.message, error_class=ErrorClass.permanent
        )
    return ConnectionTestRead(ok=check.ok, account=check.account, detail=check.detail)


LINEAGE_LIMIT = 10


def binding_read(session: Session, binding: KrBinding) -> BindingRead:
    integration = integrations.get_integration(session, binding.integration_id)
    stmt = (
        select(CheckIn)
        .where(
            CheckIn.key_result_id == binding.key_result_id,
            CheckIn.source == CheckInSource.automated,
            CheckIn.archived_at.is_(None),
        )
        .order_by(CheckIn.checked_at.desc())
        .limit(LINEAGE_LIMIT)
    )
    lineage = [lineage_read(row) for row in session.scalars(stmt).all()]
    return BindingRead.of(binding, integration=integration, lineage=lineage)


def lineage_read(check_in: CheckIn) -> LineageRead:
    """An automated check-in with the lineage the sync wrote into ``source_ref`` and ``note``."""
    facts = parse_lineage(check_in)
    return LineageRead(
        check_in_id=check_in.id,
        value=check_in.value,
        checked_at=check_in.checked_at,
        source_ref=check_in.source_ref,
        note=check_in.note,
        **facts,
    )


def parse_lineage(check_in: CheckIn) -> dict[str, Any]:
    """The lineage fields the sync wrote into ``source_ref``: compact JSON with ``binding_id``,
    ``metric``, ``query``, ``record_count``, ``record_set_hash`` and ``computed_at`` (see
    ``okr_core.kr_values.source_ref``). Unreadable refs give empty fields, never an error."""
    try:
        document = json.loads(check_in.source_ref or "")
    except ValueError:
        document = None
    facts: dict[str, Any] = document if isinstance(document, dict) else {}
    count = facts.get("record_count")
    computed = facts.get("computed_at")
    return {
        "binding_id": _text(facts.get("binding_id")),
        "metric": _text(facts.get("metric")),
        "query": _text(facts.get("query")),
        "record_count": count if isinstance(count, int) and not isinstance(count, bool) else None,
        "record_set_hash": _text(facts.get("record_set_hash")),
        "computed_at": _when(computed),
    }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
