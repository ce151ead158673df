"""API keys: format, digest, lifecycle (create, rotate, revoke) and verification lookup.

Format (GitHub's token design): ``okr_live_`` or ``okr_test_``, 32 random base62 characters,
then 6 base62 characters of the CRC32 of those 32, so a secret scanner can tell a real-looking
key from a look-alike offline with ``okr_(live|test)_[0-9A-Za-z]{38}`` plus the checksum.

Only ``HMAC-SHA256(pepper, key)`` is stored. The pepper is derived from ``OKR_SECRET_KEY``, so a
stolen table alone cannot be used to test guesses (after rotating the secret key, keep the old
one in ``OKR_SECRET_KEY_PREVIOUS`` until its keys have been re-digested on use); keys carry
~190 bits of entropy, so a slow password hash would add nothing but latency, and a deterministic
digest is what makes the lookup one indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from limits import parse as parse_limit
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import ValidationFailed
from okr_core.models import ApiKey, ApiRateLimit, Tenant, TenantStatus
from okr_core.repository import get_owned
from okr_core.settings import Settings
from okr_core.tenancy import (
    require_tenant,
    tenant_context,
    tenant_for_any_credential,
    tenant_for_credential,
)

logger = logging.getLogger(__name__)


class Scope(StrEnum):
    """What a key may read. A key holds one or more."""

    objectives_read = "objectives:read"
    key_results_read = "key_results:read"
    reports_read = "reports:read"


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.objectives_read: "Read objectives.",
    Scope.key_results_read: "Read key results and their check-in history.",
    Scope.reports_read: "Read reports.",
}

Environment = Literal["live", "test"]
PREFIXES: dict[str, str] = {"live": "okr_live_", "test": "okr_test_"}
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
BODY_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_PATTERN = re.compile(r"^okr_(live|test)_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$")
# What secret scanners search for (the checksum is then verified offline).
SCANNER_PATTERN = r"okr_(?:live|test)_[0-9A-Za-z]{38}"
DISPLAY_BODY_CHARS = 4
NAME_MAX = 100
MAX_ROTATION_OVERLAP_DAYS = 30


def base62(number: int, *, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    """Six base62 characters of the CRC32 of the key's random body."""
    return base62(zlib.crc32(body.encode("ascii")), width=CHECKSUM_LENGTH)


def looks_valid(secret: str) -> bool:
    """Offline check a secret scanner can run: the format and the checksum."""
    match = KEY_PATTERN.match(secret)
    return match is not None and hmac.compare_digest(checksum(match[2]), match[3])


def _pepper(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"okr-hub/api-key-digest/v1", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class ApiKeyCodec:
    """Makes and digests keys for one deployment (its environment and pepper).

    ``previous_peppers`` come from ``OKR_SECRET_KEY_PREVIOUS``: after the secret key is rotated,
    keys stored under an old pepper still verify (see :func:`find_key`), newest first.
    """

    environment: Environment
    pepper: bytes
    previous_peppers: tuple[bytes, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeyCodec:
        return cls(
            environment=settings.resolved_api_key_environment,
            pepper=_pepper(settings.secret_key.get_secret_value()),
            previous_peppers=tuple(_pepper(s) for s in settings.previous_secret_keys),
        )

    @property
    def prefix(self) -> str:
        return PREFIXES[self.environment]

    def generate(self) -> str:
        body = "".join(secrets.choice(BASE62) for _ in range(BODY_LENGTH))
        return f"{self.prefix}{body}{checksum(body)}"

    def digest(self, secret: str) -> str:
        """The digest stored for a key under the current secret key."""
        return hmac.new(self.pepper, secret.encode(), hashlib.sha256).hexdigest()

    def previous_digests(self, secret: str) -> tuple[str, ...]:
        """The key's digests under the previous secret keys, newest first."""
        return tuple(
            hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
            for pepper in self.previous_peppers
        )

    def display_prefix(self, secret: str) -> str:
        return secret[: len(self.prefix) + DISPLAY_BODY_CHARS]


class KeyStatus(StrEnum):
    active = "active"
    expired = "expired"
    revoked = "revoked"


def status_of(key: ApiKey, *, now: datetime | None = None) -> KeyStatus:
    now = now or datetime.now(UTC)
    if key.revoked_at is not None:
        return KeyStatus.revoked
    if key.expires_at is not None and key.expires_at <= now:
        return KeyStatus.expired
    return KeyStatus.active


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key and its secret; the secret exists only here, never in the database."""

    key: ApiKey
    secret: str


def parse_scopes(scopes: Iterable[str]) -> list[Scope]:
    wanted = [s.strip() for s in scopes]
    valid = [s.value for s in Scope]
    unknown = sorted({s for s in wanted if s not in valid})
    if unknown:
        raise ValidationFailed(
            f"unknown scope {', '.join(unknown)}; valid scopes are {', '.join(valid)}",
            details={"field": "scopes"},
        )
    if not wanted:
        raise ValidationFailed(
            f"a key needs at least one scope: {', '.join(valid)}", details={"field": "scopes"}
        )
    return sorted({Scope(s) for s in wanted}, key=lambda s: valid.index(s.value))


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(
            f"name must be 1 to {NAME_MAX} characters", details={"field": "name"}
        )
    return name


def _check_future(expires_at: datetime | None, *, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise ValidationFailed(
            "expires_at needs a time zone offset", details={"field": "expires_at"}
        )
    if expires_at <= now:
        raise ValidationFailed("expires_at must be in the future", details={"field": "expires_at"})


def snapshot(key: ApiKey) -> dict[str, object]:
    """What an audit event may say about a key: never the secret, never the digest."""
    return {
        "name": key.name,
        "display_prefix": key.display_prefix,
        "scopes": list(key.scopes),
        "expires_at": key.expires_at,
    }


def create_api_key(
    session: Session,
    *,
    actor: Actor,
    codec: ApiKeyCodec,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None = None,
    created_by_id: uuid.UUID | None = None,
    rotated_from_id: uuid.UUID | None = None,
) -> IssuedKey:
    require_tenant(session)
    now = datetime.now(UTC)
    _check_future(expires_at, now=now)
    secret = codec.generate()
    key = ApiKey(
        name=_clean_name(name),
        environment=codec.environment,
        display_prefix=codec.display_prefix(secret),
        digest=codec.digest(secret),
        scopes=[s.value for s in parse_scopes(scopes)],
        created_at=now,
        created_by_id=created_by_id,
        created_by_label=actor.label,
        expires_at=expires_at,
        rotated_from_id=rotated_from_id,
    )
    session.add(key)
    session.flush()
    changes = snapshot(key)
    if rotated_from_id is not None:
        changes["rotated_from"] = rotated_from_id
    audit.record(
        session,
        actor=actor,
        action="api_key.created",
        target_type="api_key",
        target_id=key.id,
        changes=changes,
    )
    return IssuedKey(key=key, secret=secret)


def get_api_key(session: Session, key_id: uuid.UUID) -> ApiKey:
    return get_owned(session, ApiKey, key_id, noun="API key")


def list_api_keys(session: Session, *, include_revoked: bool = True) -> Sequence[ApiKey]:
    require_tenant(session)
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return session.scalars(stmt).all()


def rotate_api_key(
    session: Session,
    *,
    actor: Actor,
    codec: ApiKeyCodec,
    key_id: uuid.UUID,
    old_key_expires_at: datetime,
    created_by_id: uuid.UUID | None = None,
) -> IssuedKey:
    """Issue a successor with the same name and scopes; the old key keeps working until
    ``old_key_expires_at`` (now, or up to 30 days ahead), so callers can switch without a gap."""
    old = get_api_key(session, key_id)
    now = datetime.now(UTC)
    if status_of(old, now=now) is not KeyStatus.active:
        raise ValidationFailed(f"only an active key can be rotated; this key is {status_of(old)}")
    if old_key_expires_at.tzinfo is None:
        raise ValidationFailed(
            "old_key_expires_at needs a time zone offset",
            details={"field": "old_key_expires_at"},
        )
    if (old_key_expires_at - now).days >= MAX_ROTATION_OVERLAP_DAYS:
        raise ValidationFailed(
            f"the old key may overlap the new one for at most {MAX_ROTATION_OVERLAP_DAYS} days",
            details={"field": "old_key_expires_at"},
        )
    old_key_expires_at = max(old_key_expires_at, now)
    if old.expires_at is not None:
        old_key_expires_at = min(old_key_expires_at, old.expires_at)
    issued = create_api_key(
        session,
        actor=actor,
        codec=codec,
        name=old.name,
        scopes=old.scopes,
        expires_at=old.expires_at if old.expires_at and old.expires_at > now else None,
        created_by_id=created_by_id,
        rotated_from_id=old.id,
    )
    before = old.expires_at
    old.expires_at = old_key_expires_at
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_key.rotated",
        target_type="api_key",
        target_id=old.id,
        changes={
            "replaced_by": issued.key.id,
            "expires_at": {"from": before, "to": old_key_expires_at},
        },
    )
    return issued


def revoke_api_key(session: Session, *, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    """Stop a key at once (every API process refuses it within the verified-key cache's TTL)."""
    key = get_api_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="api_key.revoked",
            target_type="api_key",
            target_id=key.id,
            changes={"name": key.name, "display_prefix": key.display_prefix},
        )
    return key


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the API needs to authorise a request with a key, cacheable in memory."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_active: bool
    environment: str
    scopes: frozenset[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    per_key_limit: str | None
    per_tenant_limit: str | None


def find_key(
    session: Session, *, digest: str, previous_digests: Sequence[str] = ()
) -> KeyRecord | None:
    """The key with this digest in any tenant, read under that tenant's scoping, or None.

    Two indexed reads: the sanctioned digest-to-tenant lookup, then the key row (joined with its
    tenant and the tenant's rate-limit overrides) under normal tenant scoping.

    ``previous_digests`` are the presented key's digests under previous secret keys
    (``OKR_SECRET_KEY_PREVIOUS``). The lookup then asks for any of the digests in one statement,
    and a key found under an old digest is re-digested under the current secret key, so the
    previous secret can be retired once every key in use has been seen.
    """
    candidates = [digest, *(d for d in previous_digests if d != digest)]
    if len(candidates) == 1:
        found = tenant_for_credential(session, table="api_keys", digest=digest)
        stored_digest = digest
    else:
        found_any = tenant_for_any_credential(session, table="api_keys", digests=candidates)
        found, stored_digest = (found_any[:2], found_any[2]) if found_any else (None, digest)
    if found is None:
        return None
    tenant_id, key_id = found
    with tenant_context(session, tenant_id):
        row = session.execute(
            select(ApiKey, Tenant.status, ApiRateLimit.per_key, ApiRateLimit.per_tenant)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .outerjoin(ApiRateLimit, ApiRateLimit.tenant_id == ApiKey.tenant_id)
            .where(ApiKey.id == key_id)
        ).one_or_none()
        if row is not None and stored_digest != digest:
            _redigest(session, key_id=key_id, old=stored_digest, new=digest)
    if row is None:
        return None
    key, tenant_status, per_key, per_tenant = row
    return KeyRecord(
        key_id=key.id,
        tenant_id=tenant_id,
        tenant_active=tenant_status is TenantStatus.active,
        environment=key.environment,
        scopes=frozenset(key.scopes),
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        per_key_limit=per_key,
        per_tenant_limit=per_tenant,
    )


def _redigest(session: Session, *, key_id: uuid.UUID, old: str, new: str) -> None:
    """Store a key verified under a previous secret key under the current one (idempotent:
    a concurrent process that got there first leaves nothing to update)."""
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.digest == old)
        .values(digest=new)
        .execution_options(synchronize_session=False)
    )
    logger.info("API key %s was stored under a previous secret key; re-digested", key_id)


def record_last_use(
    session: Session, *, key_id: uuid.UUID, at: datetime, address: str | None
) -> None:
    """Move a key's last use forward (never back: several processes flush in any order)."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < at),
        )
        .values(last_used_at=at, last_used_ip=(address or None) and address[:45])
        .execution_options(synchronize_session="fetch")
    )


def check_limit(value: str | None, *, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        parse_limit(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{field} must read like '600/minute' or '10/second'", details={"field": field}
        ) from None
    return value.strip()


def get_rate_limits(session: Session) -> ApiRateLimit | None:
    require_tenant(session)
    return session.scalars(select(ApiRateLimit)).first()


def set_rate_limits(
    session: Session, *, actor: Actor, per_key: str | None, per_tenant: str | None
) -> ApiRateLimit:
    """Set the tenant's overrides (None restores the deployment default for that limit)."""
    require_tenant(session)
    row = get_rate_limits(session)
    if row is None:
        row = ApiRateLimit()
        session.add(row)
    before = {"per_key": row.per_key, "per_tenant": row.per_tenant}
    row.per_key = check_limit(per_key, field="per_key")
    row.per_tenant = check_limit(per_tenant, field="per_tenant")
    session.flush()
    changed = audit.diff(before, {"per_key": row.per_key, "per_tenant": row.per_tenant})
    if changed:
        audit.record(
            session,
            actor=actor,
            action="api_rate_limits.updated",
            target_type="tenant",
            target_id=row.tenant_id,
            changes=changed,
        )
    return row
