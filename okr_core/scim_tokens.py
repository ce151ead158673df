"""SCIM bearer tokens: created and shown once, stored as an HMAC-SHA256 digest, revocable.

A token looks like ``okrscim_<32 base62 characters><6-character checksum>``: the prefix and
checksum let secret scanners recognise a leaked token without asking us.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import string
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import NotFound, ValidationFailed
from okr_core.models import ScimToken, Tenant, TenantStatus
from okr_core.tenancy import (
    bind_tenant,
    require_tenant,
    tenant_for_any_credential,
    tenant_for_credential,
)

log = logging.getLogger(__name__)
TOKEN_PREFIX = "okrscim_"  # noqa: S105 (the public prefix, not a secret)
_ALPHABET = string.digits + string.ascii_letters
_ALPHABET_SET = frozenset(_ALPHABET)
_BODY_LENGTH = 32
_CHECKSUM_LENGTH = 6
# last_used_at is written at most this often, so a busy provisioning run costs no extra writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def generate_token() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return f"{TOKEN_PREFIX}{body}{_checksum(body)}"


def is_well_formed(token: str) -> bool:
    """Prefix, length and checksum are right: rejects typos and garbage without a database trip."""
    if not token.startswith(TOKEN_PREFIX):
        return False
    rest = token[len(TOKEN_PREFIX) :]
    if len(rest) != _BODY_LENGTH + _CHECKSUM_LENGTH or not set(rest) <= _ALPHABET_SET:
        return False
    body, checksum = rest[:_BODY_LENGTH], rest[_BODY_LENGTH:]
    return hmac.compare_digest(_checksum(body), checksum)


def digest(token: str, *, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def create_token(
    session: Session, *, actor: Actor, name: str, secret: str
) -> tuple[ScimToken, str]:
    """A new token for the session's tenant: the row, and the token itself (shown once)."""
    require_tenant(session)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("name must be 1-100 characters", details={"field": "name"})
    token = generate_token()
    row = ScimToken(
        name=name,
        digest=digest(token, secret=secret),
        hint=token[: len(TOKEN_PREFIX) + 4],
        created_by=actor.label,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="scim_token.created",
        target_type="scim_token",
        target_id=row.id,
        changes={"name": name, "token": "set"},
    )
    return row, token


def list_tokens(session: Session) -> Sequence[ScimToken]:
    require_tenant(session)
    stmt = select(ScimToken).order_by(ScimToken.revoked_at.is_not(None), ScimToken.created_at)
    return session.scalars(stmt).all()


def get_token(session: Session, token_id: uuid.UUID) -> ScimToken:
    require_tenant(session)
    row = session.scalars(select(ScimToken).where(ScimToken.id == token_id)).one_or_none()
    if row is None:
        raise NotFound(f"SCIM token {token_id} was not found", details={"resource": "scim_token"})
    return row


def revoke_token(session: Session, *, actor: Actor, token_id: uuid.UUID) -> ScimToken:
    row = get_token(session, token_id)
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        audit.record(
            session,
            actor=actor,
            action="scim_token.revoked",
            target_type="scim_token",
            target_id=row.id,
            changes={"name": row.name},
        )
    return row


def authenticate(
    session: Session,
    *,
    presented: str,
    secret: str,
    previous_secrets: Sequence[str] = (),
    now: datetime | None = None,
) -> ScimToken | None:
    """The active token with this value, its tenant bound to ``session``; else None.

    Revoked tokens and tokens of inactive tenants are refused. The tenant is found through the
    one sanctioned cross-tenant lookup; the row itself is then read under that tenant's scope.
    ``previous_secrets`` (``OKR_SECRET_KEY_PREVIOUS``) keep tokens digested before a secret-key
    rotation working: all digests are looked up in one statement, and a token found under an old
    one is re-digested under ``secret``, so the identity provider needs no new token.
    """
    if not is_well_formed(presented):
        return None
    current = digest(presented, secret=secret)
    candidates = list(
        dict.fromkeys([current, *(digest(presented, secret=s) for s in previous_secrets)])
    )
    stored = current
    if len(candidates) == 1:
        found = tenant_for_credential(session, table="scim_tokens", digest=current)
    else:
        found_any = tenant_for_any_credential(session, table="scim_tokens", digests=candidates)
        found, stored = (found_any[:2], found_any[2]) if found_any else (None, current)
    if found is None:
        return None
    tenant_id, token_id = found
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or tenant.status is not TenantStatus.active:
        return None
    bind_tenant(session, tenant_id)
    row = session.scalars(select(ScimToken).where(ScimToken.id == token_id)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if stored != current:
        row.digest = current
        log.info("SCIM token %s was stored under a previous secret key; re-digested", row.id)
    now = now or datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row


def actor_for(token: ScimToken) -> Actor:
    """Audit actor of everything a token does: its id and name, never the secret."""
    return Actor(type="scim_token", id=str(token.id), label=token.name)
