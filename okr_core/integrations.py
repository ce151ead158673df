"""Integrations of the current tenant: connect, reconfigure, pause, "sync now", disconnect.

Credentials are write-only. They arrive once, are encrypted with
:class:`okr_core.secrets.CredentialCipher` and are never returned, logged, audited or quoted in an
error message; the audit trail records only *that* they changed. The encrypted payload is one
secret per integration, under the key :data:`CREDENTIAL_FIELDS` names for the auth kind:

=====================  ===================  ==============================================
auth kind              payload              how the connector uses it
=====================  ===================  ==============================================
``api_token`` (Jira)   ``{"api_token"}``    Basic ``account:api_token`` (account = email)
``oauth_token`` (Jira) ``{"access_token"}`` ``Bearer <access_token>``
``token`` (GitHub)     ``{"token"}``        personal access token
``app_installation``   ``{"token"}``        GitHub App installation token
=====================  ===================  ==============================================

:func:`credentials_of` decrypts it for a connector. Each integration also gets a webhook secret
(shown once when it is created or rotated) that signs the vendor's deliveries.

Scheduling: ``next_sync_at`` is when the sync-due sensor should next run the integration; it is
``None`` while paused. "Sync now" sets it to now and stamps ``sync_requested_at`` (the sensor
picks the integration up on its next tick, before scheduled ones, and records that sync with
trigger ``manual``; the run clears the stamp when the sync starts) and records the request in the
audit trail. Pausing withdraws a pending request.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import Conflict, ValidationFailed
from okr_core.models import AuthKind, Integration, KrBinding, Source
from okr_core.models.integration import (
    DEFAULT_SYNC_INTERVAL_MINUTES,
    MAX_SYNC_INTERVAL_MINUTES,
    MIN_SYNC_INTERVAL_MINUTES,
)
from okr_core.repository import get_owned
from okr_core.secrets import CredentialCipher

SUPPORTED_SOURCES = (Source.jira, Source.github)
AUTH_KINDS: dict[Source, tuple[AuthKind, ...]] = {
    Source.jira: (AuthKind.api_token, AuthKind.oauth_token),
    Source.github: (AuthKind.token, AuthKind.app_installation),
}
CREDENTIAL_FIELDS: dict[AuthKind, str] = {
    AuthKind.api_token: "api_token",
    AuthKind.oauth_token: "access_token",
    AuthKind.token: "token",
    AuthKind.app_installation: "token",
}
UPDATABLE_FIELDS = frozenset(
    {"name", "base_url", "auth_kind", "account", "secret", "sync_interval_minutes", "is_paused"}
)
MAX_SECRET_LENGTH = 4096
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, so secret scanners can spot leaks)


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """An integration and its freshly issued webhook secret: show it once, it is not kept."""

    integration: Integration
    webhook_secret: str


def get_integration(session: Session, integration_id: uuid.UUID) -> Integration:
    return get_owned(session, Integration, integration_id, noun="integration")


def list_integrations(session: Session) -> Sequence[Integration]:
    stmt = select(Integration).order_by(Integration.source, Integration.name)
    return session.scalars(stmt).all()


def bindings_count(session: Session, integration_id: uuid.UUID) -> int:
    stmt = (
        select(func.count())
        .select_from(KrBinding)
        .where(KrBinding.integration_id == integration_id)
    )
    return int(session.scalar(stmt) or 0)


def create_integration(
    session: Session,
    *,
    actor: Actor,
    cipher: CredentialCipher,
    source: Source | str,
    name: str,
    base_url: str,
    auth_kind: AuthKind | str,
    secret: str,
    account: str = "",
    sync_interval_minutes: int = DEFAULT_SYNC_INTERVAL_MINUTES,
    is_paused: bool = False,
    now: datetime | None = None,
) -> IssuedSecret:
    """Connect a source. The first sync is due at once (unless created paused)."""
    now = now or datetime.now(UTC)
    source = _check_source(source)
    auth_kind = _check_auth_kind(source, auth_kind)
    name = _clean_name(name)
    account = _clean_account(account, auth_kind)
    _check_unique_name(session, source=source, name=name, exclude=None)
    webhook_secret = new_webhook_secret()
    integration = Integration(
        source=source,
        name=name,
        base_url=clean_base_url(base_url),
        auth_kind=auth_kind,
        account=account,
        credentials_ciphertext=cipher.encrypt(_credentials_payload(auth_kind, secret)),
        webhook_secret_ciphertext=cipher.encrypt({"secret": webhook_secret}),
        sync_interval_minutes=check_interval(sync_interval_minutes),
        is_paused=is_paused,
        next_sync_at=None if is_paused else now,
    )
    session.add(integration)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.created",
        target_type="integration",
        target_id=integration.id,
        changes=snapshot(integration),
    )
    return IssuedSecret(integration=integration, webhook_secret=webhook_secret)


def update_integration(
    session: Session,
    *,
    actor: Actor,
    cipher: CredentialCipher,
    integration_id: uuid.UUID,
    changes: Mapping[str, Any],
    now: datetime | None = None,
) -> Integration:
    """Apply a partial update. ``secret`` replaces the stored credentials (write-only).

    Changing where or how to connect makes a sync due at once, so the admin sees within minutes
    whether the new settings work; changing the interval reschedules from the last attempt;
    pausing clears the schedule and resuming restores it.
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(f"cannot update {', '.join(sorted(unknown))}")
    now = now or datetime.now(UTC)
    integration = get_integration(session, integration_id)
    before = snapshot(integration)
    reconnect = False
    if "name" in changes:
        integration.name = _clean_name(changes["name"])
        _check_unique_name(
            session, source=integration.source, name=integration.name, exclude=integration.id
        )
    if "base_url" in changes:
        integration.base_url = clean_base_url(changes["base_url"])
        reconnect = True
    if "auth_kind" in changes:
        new_kind = _check_auth_kind(integration.source, changes["auth_kind"])
        if new_kind != integration.auth_kind and "secret" not in changes:
            raise ValidationFailed(
                "changing auth_kind needs the new credentials: send secret as well",
                details={"field": "secret"},
            )
        integration.auth_kind = new_kind
        reconnect = True
    if "account" in changes or "auth_kind" in changes:
        integration.account = _clean_account(
            changes.get("account", integration.account), integration.auth_kind
        )
        reconnect = True
    credentials_replaced = False
    if "secret" in changes:
        integration.credentials_ciphertext = cipher.encrypt(
            _credentials_payload(integration.auth_kind, changes["secret"])
        )
        credentials_replaced = reconnect = True
    if "sync_interval_minutes" in changes:
        integration.sync_interval_minutes = check_interval(changes["sync_interval_minutes"])
    if "is_paused" in changes:
        integration.is_paused = bool(changes["is_paused"])
    if reconnect or {"sync_interval_minutes", "is_paused"} & set(changes):
        _reschedule(integration, now=now, due_now=reconnect)
    session.flush()
    changed = audit.diff(before, snapshot(integration))
    if credentials_replaced:
        changed["credentials_replaced"] = True
    if changed:
        action = "integration.updated"
        if set(changed) == {"is_paused"}:
            action = "integration.paused" if integration.is_paused else "integration.resumed"
        audit.record(
            session,
            actor=actor,
            action=action,
            target_type="integration",
            target_id=integration.id,
            changes=changed,
        )
    return integration


def set_paused(
    session: Session,
    *,
    actor: Actor,
    cipher: CredentialCipher,
    integration_id: uuid.UUID,
    paused: bool,
    now: datetime | None = None,
) -> Integration:
    return update_integration(
        session,
        actor=actor,
        cipher=cipher,
        integration_id=integration_id,
        changes={"is_paused": paused},
        now=now,
    )


def request_sync(
    session: Session, *, actor: Actor, integration_id: uuid.UUID, now: datetime | None = None
) -> Integration:
    """ "Sync now": make the integration due at once and mark the request, so the sync-due
    sensor runs it on its next tick with trigger ``manual``. Pressing again before that sync
    starts keeps the first request's instant. A paused integration must be resumed first
    (409), since the sensor skips it."""
    now = now or datetime.now(UTC)
    integration = get_integration(session, integration_id)
    if integration.is_paused:
        raise Conflict(
            f"integration '{integration.name}' is paused; resume it before syncing",
            details={"field": "is_paused"},
        )
    integration.next_sync_at = now
    if integration.sync_requested_at is None:
        integration.sync_requested_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.sync_requested",
        target_type="integration",
        target_id=integration.id,
        changes={"trigger": "manual", "next_sync_at": now},
    )
    return integration


def delete_integration(session: Session, *, actor: Actor, integration_id: uuid.UUID) -> None:
    """Disconnect: the integration, its KR bindings, sync runs and queued webhook events go.

    Key results keep their values and check-ins; they simply stop moving by themselves.
    """
    integration = get_integration(session, integration_id)
    bindings = session.scalars(
        select(KrBinding).where(KrBinding.integration_id == integration.id)
    ).all()
    details = snapshot(integration) | {
        "unbound_key_results": [str(binding.key_result_id) for binding in bindings]
    }
    for binding in bindings:
        session.delete(binding)
    session.flush()  # no ORM relationship orders these deletes: bindings first, explicitly
    session.delete(integration)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.deleted",
        target_type="integration",
        target_id=integration_id,
        changes=details,
    )


def rotate_webhook_secret(
    session: Session, *, actor: Actor, cipher: CredentialCipher, integration_id: uuid.UUID
) -> IssuedSecret:
    """Issue a new webhook secret (the old one stops verifying at once). Shown once."""
    integration = get_integration(session, integration_id)
    webhook_secret = new_webhook_secret()
    integration.webhook_secret_ciphertext = cipher.encrypt({"secret": webhook_secret})
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.webhook_secret_rotated",
        target_type="integration",
        target_id=integration.id,
        changes={"webhook_secret_replaced": True},
    )
    return IssuedSecret(integration=integration, webhook_secret=webhook_secret)


def credentials_of(integration: Integration, cipher: CredentialCipher) -> dict[str, str]:
    """The decrypted credentials payload (see the module docstring). Never log it."""
    payload = cipher.decrypt(integration.credentials_ciphertext)
    return {str(key): str(value) for key, value in payload.items()}


def webhook_secret_of(integration: Integration, cipher: CredentialCipher) -> str | None:
    if integration.webhook_secret_ciphertext is None:
        return None
    value = cipher.decrypt(integration.webhook_secret_ciphertext).get("secret")
    return value if isinstance(value, str) and value else None


def new_webhook_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


def check_interval(minutes: object) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise ValidationFailed(
            "sync_interval_minutes must be a whole number of minutes",
            details={"field": "sync_interval_minutes"},
        )
    if not MIN_SYNC_INTERVAL_MINUTES <= minutes <= MAX_SYNC_INTERVAL_MINUTES:
        raise ValidationFailed(
            f"sync_interval_minutes must be between {MIN_SYNC_INTERVAL_MINUTES} (5 minutes) and "
            f"{MAX_SYNC_INTERVAL_MINUTES} (24 hours)",
            details={"field": "sync_interval_minutes"},
        )
    return minutes


def clean_base_url(value: object) -> str:
    """An http(s) URL with a host and no credentials, query or fragment; no trailing slash."""
    text = str(value or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        parts = None
    problem = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "base_url must be an http:// or https:// URL with a host"
    elif parts.username is not None or parts.password is not None:
        problem = "base_url must not contain credentials; send them as secret"
    elif parts.query or parts.fragment:
        problem = "base_url must not have a query string or fragment"
    elif len(text) > 500:
        problem = "base_url must be at most 500 characters"
    if problem is not None:
        raise ValidationFailed(problem, details={"field": "base_url"})
    return text.rstrip("/")


def snapshot(integration: Integration) -> dict[str, Any]:
    """The audited, non-secret fields."""
    return {
        "source": integration.source,
        "name": integration.name,
        "base_url": integration.base_url,
        "auth_kind": integration.auth_kind,
        "account": integration.account,
        "sync_interval_minutes": integration.sync_interval_minutes,
        "is_paused": integration.is_paused,
    }


def _reschedule(integration: Integration, *, now: datetime, due_now: bool) -> None:
    """Paused: no schedule. Otherwise due now when asked, else one interval after the last
    attempt; a sync that is already due (e.g. "sync now") stays due."""
    if integration.is_paused:
        integration.next_sync_at = None
        integration.sync_requested_at = None  # a paused integration does not sync
        return
    current = integration.next_sync_at
    if due_now or integration.last_attempt_at is None or (current is not None and current <= now):
        integration.next_sync_at = now if due_now or current is None else min(current, now)
        return
    interval = timedelta(minutes=integration.sync_interval_minutes)
    integration.next_sync_at = integration.last_attempt_at + interval


def _credentials_payload(auth_kind: AuthKind, secret: object) -> dict[str, str]:
    field = CREDENTIAL_FIELDS[auth_kind]
    text = secret.strip() if isinstance(secret, str) else ""
    if not text:
        raise ValidationFailed(
            f"secret must not be empty: give the {field.replace('_', ' ')}",
            details={"field": "secret"},
        )
    if len(text) > MAX_SECRET_LENGTH:
        raise ValidationFailed(
            f"secret must be at most {MAX_SECRET_LENGTH} characters", details={"field": "secret"}
        )
    return {field: text}


def _check_source(source: Source | str) -> Source:
    try:
        parsed = Source(source)
    except ValueError:
        parsed = None
    if parsed not in SUPPORTED_SOURCES:
        supported = ", ".join(s.value for s in SUPPORTED_SOURCES)
        raise ValidationFailed(f"source must be one of {supported}", details={"field": "source"})
    assert parsed is not None
    return parsed


def _check_auth_kind(source: Source, auth_kind: AuthKind | str) -> AuthKind:
    allowed = AUTH_KINDS[source]
    try:
        parsed = AuthKind(auth_kind)
    except ValueError:
        parsed = None
    if parsed not in allowed:
        raise ValidationFailed(
            f"auth_kind for {source.value} must be one of {', '.join(k.value for k in allowed)}",
            details={"field": "auth_kind"},
        )
    assert parsed is not None
    return parsed


def _clean_name(name: object) -> str:
    text = str(name or "").strip()
    if not text:
        raise ValidationFailed("name must not be empty", details={"field": "name"})
    if len(text) > 200:
        raise ValidationFailed("name must be at most 200 characters", details={"field": "name"})
    return text


def _clean_account(account: object, auth_kind: AuthKind) -> str:
    text = str(account or "").strip()
    if auth_kind is AuthKind.api_token and "@" not in text:
        raise ValidationFailed(
            "account must be the email address the Jira API token belongs to",
            details={"field": "account"},
        )
    if len(text) > 320:
        raise ValidationFailed(
            "account must be at most 320 characters", details={"field": "account"}
        )
    return text


def _check_unique_name(
    session: Session, *, source: Source, name: str, exclude: uuid.UUID | None
) -> None:
    stmt = select(Integration.id).where(Integration.source == source, Integration.name == name)
    if exclude is not None:
        stmt = stmt.where(Integration.id != exclude)
    if session.scalars(stmt).first() is not None:
        raise Conflict(
            f"a {source.value} integration named '{name}' already exists",
            details={"field": "name"},
        )
