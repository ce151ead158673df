"""API test fixtures: the real app on the test's rolled-back session, plus signed-in clients.

``client_for(role)`` returns a TestClient signed in (through the real sign-in form) as a user of
tenant A with that role; ``other_tenant`` holds tenant B's data for isolation tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.app import create_app
from okr_api.database import get_session
from okr_core import tenants, users
from okr_core.actors import Actor
from okr_core.models import Tenant, User
from okr_core.roles import Role
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context, unbind_tenant

PASSWORD = "correct horse battery staple"
ACTOR = Actor.system("test setup")


@dataclass
class TenantWorld:
    tenant: Tenant
    users: dict[Role, User]


def make_tenant_world(session: Session, slug: str) -> TenantWorld:
    tenant = tenants.create_tenant(session, slug=slug, name=f"Tenant {slug}")
    people: dict[Role, User] = {}
    with tenant_context(session, tenant.id):
        for role in (Role.viewer, Role.okr_editor, Role.tenant_admin):
            people[role] = users.create_user(
                session,
                actor=ACTOR,
                email=f"{role.value}@{slug}.example.com",
                display_name=f"{role.value.replace('_', ' ').title()} of {slug}",
                password=PASSWORD,
                roles=[role],
            )
    session.flush()
    return TenantWorld(tenant=tenant, users=people)


@pytest.fixture
def app(db_settings: Settings, session: Session) -> Iterator[FastAPI]:
    application = create_app(db_settings)

    def _test_session() -> Iterator[Session]:
        """Each request works in its own savepoint of the test's transaction.

        In production every request has its own session, so a rollback discards only that
        request's work; here a rollback (ours or the code's own ``session.rollback()``) must
        likewise discard the request's savepoint, never the test's fixture data.
        """
        unbind_tenant(session)
        request_work = session.begin_nested()

        def rollback_request_work() -> None:
            if request_work.is_active:
                request_work.rollback()

        session.rollback = rollback_request_work  # type: ignore[method-assign]
        try:
            yield session
            session.flush()
            if request_work.is_active:
                request_work.commit()
        except BaseException:
            rollback_request_work()
            raise
        finally:
            del session.rollback

    application.dependency_overrides[get_session] = _test_session
    yield application
    application.dependency_overrides.clear()


@pytest.fixture
def tenant_a(session: Session) -> TenantWorld:
    return make_tenant_world(session, "tenant-a")


@pytest.fixture
def tenant_b(session: Session) -> TenantWorld:
    return make_tenant_world(session, "tenant-b")


def sign_in(client: TestClient, *, organisation: str, email: str, password: str = PASSWORD) -> None:
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "sign-in page has no CSRF token"
    response = client.post(
        "/sign-in",
        data={
            "organisation": organisation,
            "email": email,
            "password": password,
            "csrf_token": token.group(1),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    session_info = client.get("/api/v1/session")
    assert session_info.status_code == 200
    client.headers["X-CSRF-Token"] = session_info.json()["csrf_token"]


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client_for(app: FastAPI, tenant_a: TenantWorld) -> Iterator[Callable[[Role], TestClient]]:
    clients: list[TestClient] = []

    def make(role: Role, world: TenantWorld | None = None) -> TestClient:
        world = world or tenant_a
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        sign_in(client, organisation=world.tenant.slug, email=world.users[role].email)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
