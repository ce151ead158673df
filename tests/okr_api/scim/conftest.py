"""SCIM test fixtures: a SCIM token per tenant and clients that speak as Okta or Entra ID.

The app here gives each request its own savepoint (inside the test's outer transaction, which
is still rolled back at the end), released on success and rolled back on error, like
production's unit of work (the session dependency, and the hot paths' ``ScimWork``): a failed
SCIM request must not undo the requests before it, and must not leave half its own changes
behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.app import create_app
from okr_api.database import get_session
from okr_api.scim.work import ScimWork
from okr_core import scim_tokens, tenants
from okr_core.actors import Actor
from okr_core.models import Tenant
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context, unbind_tenant
from tests.okr_api.conftest import TenantWorld

SCIM_MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BASE = "/scim/v2"


@pytest.fixture
def app(db_settings: Settings, session: Session) -> Iterator[FastAPI]:
    application = create_app(db_settings)

    def _unit_of_work() -> Iterator[Session]:
        unbind_tenant(session)
        request = session.begin_nested()
        try:
            yield session
            session.flush()
            request.commit()
        except BaseException:
            request.rollback()
            raise

    class SavepointWork(ScimWork):
        """The hot paths' unit of work on the test's session: a savepoint per request."""

        def __init__(self) -> None:
            super().__init__(session)
            unbind_tenant(session)
            self.savepoint = session.begin_nested()

        def commit(self) -> None:
            session.flush()
            self.savepoint.commit()

        def rollback(self) -> None:
            if self.savepoint.is_active:
                self.savepoint.rollback()

        def close(self) -> None:
            pass  # the test's session outlives the request

    application.dependency_overrides[get_session] = _unit_of_work
    application.state.scim_work_factory = lambda _request: SavepointWork()
    yield application
    application.dependency_overrides.clear()


@dataclass
class ScimTenant:
    tenant: Tenant
    token: str
    token_id: uuid.UUID


def make_scim_tenant(session: Session, tenant: Tenant, settings: Settings) -> ScimTenant:
    """A SCIM token for ``tenant``. SCIM tests need no signed-in people, so most use a bare
    tenant (no password hashing in their setup)."""
    with tenant_context(session, tenant.id):
        row, token = scim_tokens.create_token(
            session,
            actor=Actor.system("test setup"),
            name="Okta",
            secret=settings.secret_key.get_secret_value(),
        )
    session.flush()
    return ScimTenant(tenant=tenant, token=token, token_id=row.id)


@pytest.fixture
def scim_a(session: Session, db_settings: Settings) -> ScimTenant:
    return make_scim_tenant(
        session, tenants.create_tenant(session, slug="scim-a", name="A"), db_settings
    )


@pytest.fixture
def scim_b(session: Session, db_settings: Settings) -> ScimTenant:
    return make_scim_tenant(
        session, tenants.create_tenant(session, slug="scim-b", name="B"), db_settings
    )


@pytest.fixture
def scim_world_a(session: Session, tenant_a: TenantWorld, db_settings: Settings) -> ScimTenant:
    """A SCIM token for tenant A of the API fixtures, whose people can sign in."""
    return make_scim_tenant(session, tenant_a.tenant, db_settings)


@pytest.fixture
def scim_client_for(app: FastAPI) -> Iterator[Callable[[ScimTenant], TestClient]]:
    clients: list[TestClient] = []

    def make(tenant: ScimTenant) -> TestClient:
        client = TestClient(app, base_url="https://okr.example.com")
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {tenant.token}"
        client.headers["Content-Type"] = SCIM_MEDIA_TYPE
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def scim(scim_client_for: Callable[[ScimTenant], TestClient], scim_a: ScimTenant) -> TestClient:
    return scim_client_for(scim_a)


def new_user(user_name: str = "bjensen@example.com", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
    }
    body.update(extra)
    return body


def create_user(
    client: TestClient, user_name: str = "bjensen@example.com", **extra: Any
) -> dict[str, Any]:
    response = client.post(f"{BASE}/Users", json=new_user(user_name, **extra))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def create_group(client: TestClient, name: str, members: list[str] | None = None) -> dict[str, Any]:
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m} for m in members or []],
    }
    response = client.post(f"{BASE}/Groups", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def patch(client: TestClient, path: str, *operations: dict[str, Any], **kwargs: Any) -> Any:
    return client.patch(
        f"{BASE}{path}", json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)}, **kwargs
    )


def member_ids(client: TestClient, group_id: str) -> set[str]:
    response = client.get(f"{BASE}/Groups/{group_id}")
    assert response.status_code == 200, response.text
    return {m["value"] for m in response.json().get("members", [])}


def assert_scim_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM_MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("detail")
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body
