"""The hot paths' production unit of work (``ScimWork`` behind ``hot_routes``, no test
savepoints): a 2xx has committed, a failed request has left nothing, on each database.

The other SCIM tests run every request in a savepoint of the test's transaction; these start
the app as ``okr-hub serve`` does (its lifespan builds the engine) on a database of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from okr_api.app import create_app
from okr_core import scim_tokens, tenants
from okr_core.actors import Actor
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import upgrade
from okr_core.models import AuditEvent, Group, GroupMembership, IdentityLink
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from tests.okr_api.scim.conftest import BASE, GROUP_SCHEMA, PATCH_SCHEMA, SCIM_MEDIA_TYPE, new_user
from tests.okr_core.migration_support import BACKENDS, fresh_database

pytestmark = pytest.mark.slow  # a migrated database of their own per test


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with fresh_database(request.param, tmp_path) as settings:
        upgrade(settings)
        yield settings


@pytest.fixture
def tenant_and_token(settings: Settings) -> tuple[uuid.UUID, str]:
    engine = make_engine(settings, as_owner=True)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            tenant = tenants.create_tenant(session, slug="prod", name="Prod")
            with tenant_context(session, tenant.id):
                _, token = scim_tokens.create_token(
                    session,
                    actor=Actor.system("test setup"),
                    name="Okta",
                    secret=settings.secret_key.get_secret_value(),
                )
            return tenant.id, token
    finally:
        engine.dispose()


@pytest.fixture
def scim(settings: Settings, tenant_and_token: tuple[uuid.UUID, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://okr.example.com") as client:
        client.headers["Authorization"] = f"Bearer {tenant_and_token[1]}"
        client.headers["Content-Type"] = SCIM_MEDIA_TYPE
        yield client


def _count(settings: Settings, tenant_id: uuid.UUID, query: Any) -> int:
    """What another connection sees: only committed rows."""
    engine = make_engine(settings, as_owner=True)
    try:
        with (
            unit_of_work(make_session_factory(engine)) as session,
            tenant_context(session, tenant_id),
        ):
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def test_a_created_user_and_group_are_committed_before_the_answer(
    scim: TestClient, settings: Settings, tenant_and_token: tuple[uuid.UUID, str]
) -> None:
    tenant_id = tenant_and_token[0]
    user = scim.post(f"{BASE}/Users", json=new_user("kept@example.com"))
    assert user.status_code == 201, user.text
    group = scim.post(f"{BASE}/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Kept"})
    assert group.status_code == 201, group.text
    add = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user.json()["id"]}]}],
    }
    assert scim.patch(f"{BASE}/Groups/{group.json()['id']}", json=add).status_code == 204

    assert _count(settings, tenant_id, select(func.count()).select_from(IdentityLink)) == 1
    assert _count(settings, tenant_id, select(func.count()).select_from(Group)) == 1
    assert _count(settings, tenant_id, select(func.count()).select_from(GroupMembership)) == 1
    provisioning = AuditEvent.action.in_(
        ["scim.user.created", "scim.group.created", "scim.group.members_changed"]
    )
    events = select(func.count()).select_from(AuditEvent).where(provisioning)
    assert _count(settings, tenant_id, events) == 3


def test_a_failed_request_leaves_nothing_and_the_next_one_works(
    scim: TestClient, settings: Settings, tenant_and_token: tuple[uuid.UUID, str]
) -> None:
    tenant_id = tenant_and_token[0]
    user = scim.post(f"{BASE}/Users", json=new_user("one@example.com")).json()
    group = scim.post(f"{BASE}/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "G"})
    group_id = group.json()["id"]
    add = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": user["id"]}, {"value": str(uuid.uuid4())}],
            }
        ],
    }
    refused = scim.patch(f"{BASE}/Groups/{group_id}", json=add)
    assert refused.status_code == 400, refused.text
    clash = scim.post(f"{BASE}/Users", json=new_user("ONE@example.com"))
    assert clash.status_code == 409, clash.text

    assert _count(settings, tenant_id, select(func.count()).select_from(GroupMembership)) == 0
    assert _count(settings, tenant_id, select(func.count()).select_from(IdentityLink)) == 1
    assert scim.get(f"{BASE}/Groups/{group_id}").headers["ETag"] == group.json()["meta"]["version"]
    again = scim.post(f"{BASE}/Users", json=new_user("two@example.com"))
    assert again.status_code == 201, again.text
