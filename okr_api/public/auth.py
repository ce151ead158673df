"""API-key authentication of the public API: ``Authorization: Bearer <key>``.

Every refusal says which of missing, malformed, unknown, expired or revoked it was (never
echoing the key) with a ``WWW-Authenticate`` challenge (RFC 6750); a valid key without the
endpoint's scope is a 403 naming the scope. A verified key costs a format check, a CRC32, one
HMAC and a dict lookup: the database is read only when the in-memory entry is missing or older
than the cache's TTL.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request

from okr_api.public.runtime import PublicApiRuntime
from okr_core.api_keys import KEY_PATTERN, PREFIXES, checksum
from okr_core.errors import NotAuthenticated, PermissionDenied

REALM = "okr-hub"
CALLER_SCOPE_KEY = "okr.public.caller"


class ApiKeyRejected(NotAuthenticated):
    """401 for a request whose key is missing or does not authenticate."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def challenge(self) -> str:
        if self.code == "api_key_missing":
            return f'Bearer realm="{REALM}"'
        description = self.message.replace('"', "'")
        return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'


class InsufficientScope(PermissionDenied):
    code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"this API key lacks the {scope} scope; create a key with {scope} to call this "
            "endpoint",
            details={"required_scope": scope},
        )
        self.scope = scope

    @property
    def challenge(self) -> str:
        return f'Bearer realm="{REALM}", error="insufficient_scope", scope="{self.scope}"'


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified key: who is calling the public API, for which tenant, with which scopes."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    per_key_limit: str | None
    per_tenant_limit: str | None


def caller_of(request: Request) -> Caller:
    caller: Caller = request.scope[CALLER_SCOPE_KEY]
    return caller


def _presented_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiKeyRejected(
            "api_key_missing",
            "no API key: send it as 'Authorization: Bearer <key>' (tenant admins create keys "
            "under API keys in the admin UI)",
        )
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise ApiKeyRejected(
            "api_key_malformed",
            "malformed Authorization header: expected 'Bearer <key>'",
        )
    return secret


async def authenticate(runtime: PublicApiRuntime, request: Request) -> Caller:
    secret = _presented_key(request)
    match = KEY_PATTERN.match(secret)
    if match is None:
        raise ApiKeyRejected(
            "api_key_malformed",
            "malformed API key: keys look like okr_live_ or okr_test_ followed by 38 letters "
            "and digits",
        )
    if not hmac.compare_digest(checksum(match[2]), match[3]):
        raise ApiKeyRejected(
            "api_key_malformed",
            "malformed API key: its checksum does not match (mistyped or cut short?)",
        )
    if match[1] != runtime.codec.environment:
        raise ApiKeyRejected(
            "api_key_wrong_environment",
            f"this is a {match[1]} key; this deployment accepts "
            f"{PREFIXES[runtime.codec.environment]} keys",
        )
    record = await runtime.key_for_secret(secret)
    if record is None:
        raise ApiKeyRejected("api_key_unknown", "unknown API key (never issued, or deleted)")
    if record.revoked_at is not None:
        raise ApiKeyRejected(
            "api_key_revoked", f"this API key was revoked at {record.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        raise ApiKeyRejected(
            "api_key_expired", f"this API key expired at {record.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    if not record.tenant_active:
        raise ApiKeyRejected(
            "api_key_tenant_inactive", "the organisation that owns this API key is not active"
        )
    return Caller(
        key_id=record.key_id,
        tenant_id=record.tenant_id,
        scopes=record.scopes,
        per_key_limit=record.per_key_limit,
        per_tenant_limit=record.per_tenant_limit,
    )
