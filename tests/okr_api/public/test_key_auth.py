"""Authentication of the public API: every refusal says why, with a Bearer challenge; the key
lifecycle (use, rotate, expire, revoke) holds end to end; keys never reach logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from okr_api.public.runtime import PublicApiRuntime
from okr_core import api_keys
from okr_core.actors import Actor
from okr_core.api_keys import ApiKeyCodec, checksum
from okr_core.models import ApiKey, AuditEvent
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from tests.okr_api.public.conftest import IssueKey, OkrData, bearer

URL = "/api/v1/public/objectives"


def _flip_last(secret: str) -> str:
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


def _unknown_key(runtime: PublicApiRuntime) -> str:
    return runtime.codec.generate()


def _live_key(_: PublicApiRuntime) -> str:
    body = "a" * 32
    return f"okr_live_{body}{checksum(body)}"


@pytest.mark.parametrize(
    ("headers", "code", "says"),
    [
        ({}, "api_key_missing", "no API key"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "api_key_malformed", "Bearer"),
        ({"Authorization": "Bearer"}, "api_key_malformed", "Bearer"),
        ({"Authorization": "Bearer sk_live_abc"}, "api_key_malformed", "okr_live_"),
    ],
)
def test_missing_or_malformed_key_is_401_saying_which(
    public: TestClient, headers: dict[str, str], code: str, says: str
) -> None:
    response = public.get(URL, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert says in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="okr-hub"')


@pytest.mark.parametrize(
    ("make", "code", "says"),
    [
        (lambda rt, key: _flip_last(key), "api_key_malformed", "checksum"),
        (lambda rt, key: _unknown_key(rt), "api_key_unknown", "unknown API key"),
        (lambda rt, key: _live_key(rt), "api_key_wrong_environment", "okr_test_"),
    ],
)
def test_bad_keys_are_401_saying_which_without_echoing_the_key(
    public: TestClient,
    runtime: PublicApiRuntime,
    okrs_a: OkrData,
    issue_key: IssueKey,
    make: Callable[[PublicApiRuntime, str], str],
    code: str,
    says: str,
) -> None:
    presented = make(runtime, issue_key(okrs_a.world))
    response = public.get(URL, headers=bearer(presented))
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert says in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert presented not in response.text


def test_key_without_the_scope_is_403_naming_it(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    response = public.get(URL, headers=bearer(key))
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "insufficient_scope"
    assert body["required_scope"] == "objectives:read"
    assert "objectives:read" in body["detail"]
    assert 'scope="objectives:read"' in response.headers["WWW-Authenticate"]


def test_key_lifecycle_use_rotate_expire_revoke(
    public: TestClient, runtime: PublicApiRuntime, okrs_a: OkrData, session: Session
) -> None:
    actor = Actor.system("lifecycle")
    with tenant_context(session, okrs_a.world.tenant.id):
        first = api_keys.create_api_key(
            session, actor=actor, codec=runtime.codec, name="sync", scopes=["objectives:read"]
        )
    assert public.get(URL, headers=bearer(first.secret)).status_code == 200
    with tenant_context(session, okrs_a.world.tenant.id):
        second = api_keys.rotate_api_key(
            session,
            actor=actor,
            codec=runtime.codec,
            key_id=first.key.id,
            old_key_expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    runtime.keys.clear()  # what the cache's TTL does on its own within seconds
    assert public.get(URL, headers=bearer(first.secret)).status_code == 200  # overlap
    assert public.get(URL, headers=bearer(second.secret)).status_code == 200
    with tenant_context(session, okrs_a.world.tenant.id):
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == first.key.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    runtime.keys.clear()
    expired = public.get(URL, headers=bearer(first.secret))
    assert expired.status_code == 401
    assert expired.json()["code"] == "api_key_expired"
    with tenant_context(session, okrs_a.world.tenant.id):
        api_keys.revoke_api_key(session, actor=actor, key_id=second.key.id)
    runtime.keys.clear()
    revoked = public.get(URL, headers=bearer(second.secret))
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "api_key_revoked"


def test_revocation_elsewhere_reaches_this_process_within_the_cache_ttl(
    public: TestClient,
    runtime: PublicApiRuntime,
    okrs_a: OkrData,
    issue_key: IssueKey,
    session: Session,
) -> None:
    """Another process revokes the key (a direct database write, no cache invalidation here):
    this process keeps trusting its cached entry only until the TTL runs out (a manual clock,
    so a slow machine cannot make the cached read miss)."""
    now = [1000.0]
    runtime.keys.clock = lambda: now[0]
    runtime.keys.ttl = 3.0
    key = issue_key(okrs_a.world)
    assert public.get(URL, headers=bearer(key)).status_code == 200
    with tenant_context(session, okrs_a.world.tenant.id):
        session.execute(update(ApiKey).values(revoked_at=datetime.now(UTC)))
    now[0] += 2.9
    assert public.get(URL, headers=bearer(key)).status_code == 200  # still cached
    now[0] += 0.2
    assert public.get(URL, headers=bearer(key)).status_code == 401


def test_default_cache_ttl_keeps_revocation_under_five_seconds() -> None:
    assert Settings().api_key_cache_seconds + 1 < 5
    with pytest.raises(ValueError, match="less than or equal to 4"):
        Settings(api_key_cache_seconds=10)


def test_no_key_or_digest_in_logs_or_audit(
    public: TestClient,
    runtime: PublicApiRuntime,
    okrs_a: OkrData,
    issue_key: IssueKey,
    session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = issue_key(okrs_a.world)
    digest = ApiKeyCodec.from_settings(runtime.settings).digest(key)
    for headers in (bearer(key), bearer(_flip_last(key)), bearer(runtime.codec.generate())):
        public.get(URL, headers=headers)
        public.get("/api/v1/public/nothing-here", headers=headers)
    with tenant_context(session, okrs_a.world.tenant.id):
        audit = repr([(e.changes, e.target_id) for e in session.query(AuditEvent)])
    text = caplog.text + audit
    assert key not in text
    assert key[9:41] not in text
    assert digest not in text
