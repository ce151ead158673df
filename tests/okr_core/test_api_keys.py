"""API keys in the core: format and checksum, digest, lifecycle, lookup, audit hygiene."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import api_keys, tenants
from okr_core.actors import Actor
from okr_core.api_keys import ApiKeyCodec, KeyStatus, checksum, looks_valid
from okr_core.errors import NotFound, ValidationFailed
from okr_core.models import ApiKey, AuditEvent
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context

ACTOR = Actor.system("api key test")


@pytest.fixture
def codec() -> ApiKeyCodec:
    return ApiKeyCodec.from_settings(Settings(environment="test", secret_key="k" * 40))


def test_generated_key_has_prefix_random_body_and_checksum(codec: ApiKeyCodec) -> None:
    key = codec.generate()
    assert re.fullmatch(api_keys.SCANNER_PATTERN, key)
    assert key.startswith("okr_test_")
    body, suffix = key[9:41], key[41:]
    assert suffix == checksum(body)
    assert looks_valid(key)
    assert codec.generate() != key


def test_live_prefix_in_production_or_when_configured() -> None:
    assert Settings.model_construct(environment="production").resolved_api_key_environment == "live"
    settings = Settings(environment="test", api_key_environment="live")
    assert ApiKeyCodec.from_settings(settings).generate().startswith("okr_live_")


def test_checksum_rejects_look_alikes(codec: ApiKeyCodec) -> None:
    key = codec.generate()
    changed_body = key[:12] + ("a" if key[12] != "a" else "b") + key[13:]
    assert not looks_valid(changed_body)
    assert not looks_valid(key[:-1])
    assert not looks_valid("okr_test_" + "0" * 38)  # right shape, wrong checksum
    assert not looks_valid(key.replace("okr_test_", "okr_prod_"))


def test_digest_is_keyed_by_the_secret_key(codec: ApiKeyCodec) -> None:
    key = codec.generate()
    other = ApiKeyCodec.from_settings(Settings(environment="test", secret_key="z" * 40))
    assert codec.digest(key) == codec.digest(key)
    assert len(codec.digest(key)) == 64
    assert codec.digest(key) != other.digest(key)
    assert key not in codec.digest(key)


@pytest.fixture
def tenant_id(session: Session) -> object:
    return tenants.create_tenant(session, slug="keys", name="Keys").id


def test_create_stores_only_a_digest_and_lookup_finds_the_tenant(
    session: Session, codec: ApiKeyCodec, tenant_id: object
) -> None:
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        issued = api_keys.create_api_key(
            session, actor=ACTOR, codec=codec, name="BI", scopes=["key_results:read"]
        )
        row = session.scalars(select(ApiKey)).one()
    assert row.digest == codec.digest(issued.secret)
    assert issued.secret not in {str(v) for v in vars(row).values()}
    assert row.display_prefix == issued.secret[:13]
    record = api_keys.find_key(session, digest=codec.digest(issued.secret))
    assert record is not None
    assert record.tenant_id == tenant_id
    assert record.scopes == frozenset({"key_results:read"})
    assert api_keys.find_key(session, digest=codec.digest(codec.generate())) is None


def test_scopes_and_names_are_validated(
    session: Session, codec: ApiKeyCodec, tenant_id: object
) -> None:
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed, match="objectives:read"):
            api_keys.create_api_key(session, actor=ACTOR, codec=codec, name="x", scopes=["admin"])
        with pytest.raises(ValidationFailed, match="at least one scope"):
            api_keys.create_api_key(session, actor=ACTOR, codec=codec, name="x", scopes=[])
        with pytest.raises(ValidationFailed, match="name"):
            api_keys.create_api_key(
                session, actor=ACTOR, codec=codec, name=" ", scopes=["objectives:read"]
            )
        with pytest.raises(ValidationFailed, match="future"):
            api_keys.create_api_key(
                session,
                actor=ACTOR,
                codec=codec,
                name="old",
                scopes=["objectives:read"],
                expires_at=datetime.now(UTC) - timedelta(seconds=1),
            )


def test_lifecycle_rotate_expire_revoke_with_audit_and_no_secrets(
    session: Session, codec: ApiKeyCodec, tenant_id: object
) -> None:
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        first = api_keys.create_api_key(
            session, actor=ACTOR, codec=codec, name="sync", scopes=["objectives:read"]
        )
        overlap_until = datetime.now(UTC) + timedelta(hours=2)
        second = api_keys.rotate_api_key(
            session,
            actor=ACTOR,
            codec=codec,
            key_id=first.key.id,
            old_key_expires_at=overlap_until,
        )
        assert second.key.scopes == ["objectives:read"]
        assert second.key.name == "sync"
        assert second.key.rotated_from_id == first.key.id
        assert first.key.expires_at == overlap_until
        assert api_keys.status_of(first.key) is KeyStatus.active
        assert api_keys.status_of(first.key, now=overlap_until) is KeyStatus.expired
        api_keys.revoke_api_key(session, actor=ACTOR, key_id=second.key.id)
        revoked_at = second.key.revoked_at
        api_keys.revoke_api_key(session, actor=ACTOR, key_id=second.key.id)
        assert second.key.revoked_at == revoked_at
        assert api_keys.status_of(second.key) is KeyStatus.revoked
        with pytest.raises(ValidationFailed, match="only an active key"):
            api_keys.rotate_api_key(
                session,
                actor=ACTOR,
                codec=codec,
                key_id=second.key.id,
                old_key_expires_at=datetime.now(UTC),
            )
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.occurred_at)).all()
    actions = [e.action for e in events]
    assert actions.count("api_key.created") == 2
    assert actions.count("api_key.rotated") == 1
    assert actions.count("api_key.revoked") == 1
    dumped = repr([(e.changes, e.target_id, e.actor_label) for e in events])
    for issued in (first, second):
        assert issued.secret not in dumped
        assert issued.key.digest not in dumped
        assert issued.secret[9:41] not in dumped  # not even the random body


def test_other_tenants_key_is_not_found(
    session: Session, codec: ApiKeyCodec, tenant_id: object
) -> None:
    other = tenants.create_tenant(session, slug="other", name="Other").id
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        issued = api_keys.create_api_key(
            session, actor=ACTOR, codec=codec, name="a", scopes=["objectives:read"]
        )
    with tenant_context(session, other):
        assert api_keys.list_api_keys(session) == []
        with pytest.raises(NotFound):
            api_keys.revoke_api_key(session, actor=ACTOR, key_id=issued.key.id)


def test_rate_limit_overrides_are_validated_and_audited(
    session: Session, tenant_id: object
) -> None:
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed, match="per_key"):
            api_keys.set_rate_limits(session, actor=ACTOR, per_key="lots", per_tenant=None)
        row = api_keys.set_rate_limits(session, actor=ACTOR, per_key="1200/minute", per_tenant=None)
        assert (row.per_key, row.per_tenant) == ("1200/minute", None)
        actions = [e.action for e in session.scalars(select(AuditEvent))]
    assert "api_rate_limits.updated" in actions


OLD_SECRET = "old-secret-key-rotated-out-of-OKR_SECRET_KEY-0123456789"
NEW_SECRET = "new-secret-key-now-in-OKR_SECRET_KEY-0123456789abcdef"


def test_previous_secret_keys_are_parsed_newest_first_without_the_current() -> None:
    settings = Settings(
        environment="test",
        secret_key=NEW_SECRET,
        secret_key_previous=f" {OLD_SECRET} , older-still-0123456789,,{NEW_SECRET}",
    )
    assert settings.previous_secret_keys == [OLD_SECRET, "older-still-0123456789"]
    assert Settings(environment="test").previous_secret_keys == []
    assert OLD_SECRET not in repr(settings)


def test_key_digested_under_a_previous_secret_verifies_and_is_redigested(
    session: Session, tenant_id: object
) -> None:
    old = ApiKeyCodec.from_settings(Settings(environment="test", secret_key=OLD_SECRET))
    rotated = ApiKeyCodec.from_settings(
        Settings(environment="test", secret_key=NEW_SECRET, secret_key_previous=OLD_SECRET)
    )
    assert rotated.pepper != old.pepper
    assert rotated.previous_peppers == (old.pepper,)
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        issued = api_keys.create_api_key(
            session, actor=ACTOR, codec=old, name="BI", scopes=["objectives:read"]
        )
    session.flush()
    secret = issued.secret
    current, previous = rotated.digest(secret), rotated.previous_digests(secret)
    assert previous == (old.digest(secret),)

    # Without the previous secret the key is unknown: what rotation used to do to every key.
    assert api_keys.find_key(session, digest=current) is None

    record = api_keys.find_key(session, digest=current, previous_digests=previous)
    assert record is not None
    assert record.key_id == issued.key.id
    assert record.tenant_id == tenant_id
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        session.expire_all()
        assert session.scalars(select(ApiKey.digest)).one() == current
    # Re-digested: found under the current secret alone from now on.
    again = api_keys.find_key(session, digest=current)
    assert again is not None
    assert again.key_id == issued.key.id
    # No audit entry or other row holds the secret or either digest.
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        audit = repr([(e.changes, e.target_id) for e in session.scalars(select(AuditEvent))])
    for value in (secret, current, *previous):
        assert value not in audit


def test_lookup_with_previous_digests_prefers_the_current_one(
    session: Session, tenant_id: object
) -> None:
    codec = ApiKeyCodec.from_settings(
        Settings(environment="test", secret_key=NEW_SECRET, secret_key_previous=OLD_SECRET)
    )
    with tenant_context(session, tenant_id):  # type: ignore[arg-type]
        issued = api_keys.create_api_key(
            session, actor=ACTOR, codec=codec, name="BI", scopes=["objectives:read"]
        )
    session.flush()
    secret = issued.secret
    record = api_keys.find_key(
        session, digest=codec.digest(secret), previous_digests=codec.previous_digests(secret)
    )
    assert record is not None
    assert record.key_id == issued.key.id
    unknown = codec.generate()
    assert (
        api_keys.find_key(
            session, digest=codec.digest(unknown), previous_digests=codec.previous_digests(unknown)
        )
        is None
    )
