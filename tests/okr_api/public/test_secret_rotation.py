"""Rotating ``OKR_SECRET_KEY`` with the old value kept in ``OKR_SECRET_KEY_PREVIOUS``: keys
issued under the old secret keep working (and are re-digested under the new one on first use),
and a client paging through a list keeps its cursor."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.public.runtime import STATE_ATTRIBUTE, PublicApiRuntime, get_runtime
from okr_core.models import ApiKey
from okr_core.tenancy import tenant_context
from tests.okr_api.public.conftest import IssueKey, OkrData, bearer

URL = "/api/v1/public/objectives"
NEW_SECRET = "the-new-secret-key-after-rotation-0123456789abcdef"


def _restart_with(app: FastAPI, *, previous: str) -> PublicApiRuntime:
    """What a deploy with a new OKR_SECRET_KEY does: every process starts with new settings."""
    old = app.state.settings.secret_key.get_secret_value()
    app.state.settings = app.state.settings.model_copy(
        update={
            "secret_key": SecretStr(NEW_SECRET),
            "secret_key_previous": SecretStr(old if previous == "old" else previous),
        }
    )
    setattr(app.state, STATE_ATTRIBUTE, None)
    return get_runtime(app)


def test_keys_survive_a_secret_key_rotation_and_are_redigested(
    app: FastAPI, public: TestClient, okrs_a: OkrData, issue_key: IssueKey, session: Session
) -> None:
    key = issue_key(okrs_a.world)
    assert public.get(URL, headers=bearer(key)).status_code == 200
    with tenant_context(session, okrs_a.world.tenant.id):
        digest_before = session.scalars(select(ApiKey.digest)).one()

    runtime = _restart_with(app, previous="old")
    assert public.get(URL, headers=bearer(key)).status_code == 200
    with tenant_context(session, okrs_a.world.tenant.id):
        session.expire_all()
        digest_after = session.scalars(select(ApiKey.digest)).one()
    assert digest_after != digest_before
    assert digest_after == runtime.codec.digest(key)

    # Once re-digested, the key no longer needs the previous secret.
    _restart_with(app, previous="")
    assert public.get(URL, headers=bearer(key)).status_code == 200


def test_without_the_previous_secret_old_keys_are_unknown(
    app: FastAPI, public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world)
    _restart_with(app, previous="")
    refused = public.get(URL, headers=bearer(key))
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_unknown"


def test_a_cursor_from_before_the_rotation_still_pages(
    app: FastAPI, public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world)
    first = public.get(f"{URL}?limit=1", headers=bearer(key)).json()
    cursor = first["next_cursor"]
    assert cursor

    _restart_with(app, previous="old")
    second = public.get(f"{URL}?limit=1&cursor={cursor}", headers=bearer(key))
    assert second.status_code == 200
    assert second.json()["data"][0]["id"] != first["data"][0]["id"]

    _restart_with(app, previous="")
    stale = public.get(f"{URL}?limit=1&cursor={cursor}", headers=bearer(key))
    assert stale.status_code == 400
    assert stale.json()["errors"][0]["field"] == "cursor"
