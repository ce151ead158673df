"""Fixtures for /api/v1 integrations, bindings and webhooks.

* ``app`` runs each request in its own SAVEPOINT, as in production where each request is its own
  transaction: an error answer rolls back that request's writes only, not the test's fixtures.
* Password hashing uses minimal argon2 parameters; these tests are about the API.
* Integrations and key results are created through the core services, as the API would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.app import create_app
from okr_api.database import get_session
from okr_core.integrations import IssuedSecret
from okr_core.models import KeyResult
from okr_core.roles import Role
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context, unbind_tenant
from tests.okr_api.conftest import TenantWorld
from tests.okr_core.integration_support import (
    cipher_for,
    make_github,
    make_jira,
    make_key_result,
)

ClientFor = Callable[..., TestClient]


@pytest.fixture
def app(db_settings: Settings, session: Session) -> Iterator[FastAPI]:
    application = create_app(db_settings)

    def _request_session() -> Iterator[Session]:
        unbind_tenant(session)
        savepoint = session.begin_nested()
        try:
            yield session
            session.flush()
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()

    application.dependency_overrides[get_session] = _request_session
    yield application
    application.dependency_overrides.clear()


@pytest.fixture
def cipher(db_settings: Settings) -> CredentialCipher:
    return cipher_for(db_settings)


@dataclass(frozen=True)
class World:
    """One tenant's integrations and an unbound key result."""

    jira: IssuedSecret
    github: IssuedSecret
    key_result: KeyResult


def make_world(session: Session, cipher: CredentialCipher, tenant: TenantWorld) -> World:
    with tenant_context(session, tenant.tenant.id):
        world = World(
            jira=make_jira(session, cipher),
            github=make_github(session, cipher),
            key_result=make_key_result(session, title=f"KR of {tenant.tenant.slug}"),
        )
        session.flush()
    return world


@pytest.fixture
def world_a(session: Session, cipher: CredentialCipher, tenant_a: TenantWorld) -> World:
    return make_world(session, cipher, tenant_a)


@pytest.fixture
def world_b(session: Session, cipher: CredentialCipher, tenant_b: TenantWorld) -> World:
    return make_world(session, cipher, tenant_b)


@pytest.fixture
def admin(client_for: ClientFor) -> TestClient:
    return client_for(Role.tenant_admin)


@pytest.fixture
def editor(client_for: ClientFor) -> TestClient:
    return client_for(Role.okr_editor)


@pytest.fixture
def viewer(client_for: ClientFor) -> TestClient:
    return client_for(Role.viewer)
