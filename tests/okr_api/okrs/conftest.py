"""Fixtures for the /api/v1 OKR tests: per-request savepoints, cheap hashing, seeded OKRs.

* ``app`` is overridden so each request runs in its own SAVEPOINT, as in production where each
  request is its own transaction: an error response rolls back that request's writes only, not
  the whole test's data (the shared fixture's ``session.rollback()`` would wipe the tenants).
* The app is built once per backend; each test gets its own session override and a fresh
  sign-in throttle.
* Password hashing uses minimal argon2 parameters here; these tests are about the API, and the
  default parameters would cost ~0.5 s per test in fixtures alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.app import create_app
from okr_api.auth.throttle import LoginThrottle
from okr_api.database import get_session
from okr_core import check_ins, key_results, objectives, tenants
from okr_core.actors import Actor
from okr_core.models import Tenant
from okr_core.periods import period_of
from okr_core.roles import Role
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context, unbind_tenant
from tests.okr_api.conftest import TenantWorld

SEED_ACTOR = Actor.system("okrs test seed")
ClientFor = Callable[..., TestClient]


@pytest.fixture(scope="session")
def _apps() -> dict[int, FastAPI]:
    """One app per backend: building the app costs more than most of these tests."""
    return {}


@pytest.fixture
def app(db_settings: Settings, session: Session, _apps: dict[int, FastAPI]) -> Iterator[FastAPI]:
    key = id(db_settings)
    if key not in _apps:
        _apps[key] = create_app(db_settings)
    application = _apps[key]
    application.state.login_throttle = LoginThrottle(db_settings)

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


@dataclass(frozen=True)
class Seeded:
    """Ids of one objective with one key result and one manual check-in, in one tenant."""

    objective_id: uuid.UUID
    key_result_id: uuid.UUID
    check_in_id: uuid.UUID

    def fill(self, template: str) -> str:
        """Put this tenant's ids into a path or body template."""
        return (
            template.replace("{objective}", str(self.objective_id))
            .replace("{key_result}", str(self.key_result_id))
            .replace("{check_in}", str(self.check_in_id))
        )


CURRENT_PERIOD = period_of(datetime.now(UTC).date()).name


def seed_okrs(session: Session, tenant: Tenant, *, label: str) -> Seeded:
    """Create the seed data through the core services, as the API would."""
    with tenant_context(session, tenant.id):
        objective = objectives.create_objective(
            session, actor=SEED_ACTOR, title=f"Objective of {label}", period=CURRENT_PERIOD
        )
        kr = key_results.create_key_result(
            session,
            actor=SEED_ACTOR,
            objective_id=objective.id,
            title=f"Key result of {label}",
            start_value=0,
            target_value=100,
            unit="%",
        )
        check_in = check_ins.record_check_in(
            session,
            actor=SEED_ACTOR,
            key_result_id=kr.id,
            value=40,
            checked_at=datetime.now(UTC) - timedelta(days=1),
        )
        session.flush()
    return Seeded(objective.id, kr.id, check_in.id)


def unknown_ids() -> Seeded:
    """Ids that exist in no tenant."""
    return Seeded(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())


@pytest.fixture
def seeded(session: Session, tenant_a: TenantWorld) -> Seeded:
    """Tenant A's seed OKRs."""
    return seed_okrs(session, tenant_a.tenant, label="tenant A")


@pytest.fixture
def foreign(session: Session) -> Seeded:
    """Another tenant's OKRs (no users: nobody needs to sign in there)."""
    tenant = tenants.create_tenant(session, slug="tenant-b", name="Tenant B")
    return seed_okrs(session, tenant, label="tenant B")


@pytest.fixture
def editor(client_for: ClientFor) -> TestClient:
    return client_for(Role.okr_editor)


@pytest.fixture
def viewer(client_for: ClientFor) -> TestClient:
    return client_for(Role.viewer)
