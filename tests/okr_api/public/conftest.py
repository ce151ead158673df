"""Public API fixtures: OKR data in two tenants and keys with chosen scopes.

``issue_key(world, scopes)`` creates a key through the real service and returns its secret;
``public`` is a TestClient without a session cookie (the public API never uses cookies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.database import get_session
from okr_api.public.runtime import PublicApiRuntime, get_runtime
from okr_core import api_keys, check_ins, key_results, objectives, tenants, users
from okr_core.actors import Actor
from okr_core.models import CheckInSource, KeyResult, Objective, Tenant, User
from okr_core.tenancy import tenant_context, unbind_tenant
from tests.okr_api.conftest import TenantWorld

ACTOR = Actor.system("public api test setup")
ALL_SCOPES = ("objectives:read", "key_results:read", "reports:read")


@dataclass
class World:
    """A tenant with one (password-less) user who owns some of its OKRs."""

    tenant: Tenant
    owner: User


def make_world(session: Session, slug: str) -> World:
    tenant = tenants.create_tenant(session, slug=slug, name=f"Tenant {slug}")
    with tenant_context(session, tenant.id):
        owner = users.create_user(
            session, actor=ACTOR, email=f"owner@{slug}.example.com", display_name="Owner"
        )
    return World(tenant=tenant, owner=owner)


@dataclass
class OkrData:
    world: World
    objectives: list[Objective] = field(default_factory=list)
    key_results: list[KeyResult] = field(default_factory=list)


def seed_okrs(session: Session, world: World, *, objectives_count: int = 2) -> OkrData:
    data = OkrData(world=world)
    with tenant_context(session, world.tenant.id):
        for index in range(objectives_count):
            objective = objectives.create_objective(
                session,
                actor=ACTOR,
                title=f"{world.tenant.slug} objective {index}",
                period="2026-Q4" if index % 2 == 0 else "2026-Q3",
                owner_id=world.owner.id if index == 0 else None,
            )
            data.objectives.append(objective)
            for kr_index in range(2):
                kr = key_results.create_key_result(
                    session,
                    actor=ACTOR,
                    objective_id=objective.id,
                    title=f"KR {index}.{kr_index}",
                    start_value=0,
                    target_value=100,
                    owner_id=world.owner.id if kr_index == 0 else None,
                )
                data.key_results.append(kr)
        first = data.key_results[0]
        check_ins.record_check_in(
            session,
            actor=ACTOR,
            key_result_id=first.id,
            value=20,
            checked_at=datetime.now(UTC) - timedelta(days=2),
        )
        check_ins.record_check_in(
            session,
            actor=ACTOR,
            key_result_id=first.id,
            value=35,
            checked_at=datetime.now(UTC) - timedelta(days=1),
            source=CheckInSource.automated,
            source_ref="jira:PROJ-1",
        )
    session.flush()
    return data


@pytest.fixture
def app(app: FastAPI, session: Session) -> FastAPI:
    """The API tests' app, with two changes: usage is flushed only when a test asks (never from
    a background task racing the test's shared session), and each request runs in a savepoint,
    so a refused request rolls back only its own work, not the test's fixtures."""
    app.state.settings = app.state.settings.model_copy(
        update={"public_usage_flush_seconds": 3600.0}
    )

    def request_session() -> Iterator[Session]:
        unbind_tenant(session)
        savepoint = session.begin_nested()
        try:
            yield session
            session.flush()
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        if savepoint.is_active:
            savepoint.commit()

    app.dependency_overrides[get_session] = request_session
    return app


@pytest.fixture
def runtime(app: FastAPI) -> PublicApiRuntime:
    return get_runtime(app)


@pytest.fixture
def okrs_a(session: Session) -> OkrData:
    return seed_okrs(session, make_world(session, "public-a"))


@pytest.fixture
def okrs_b(session: Session) -> OkrData:
    return seed_okrs(session, make_world(session, "public-b"))


IssueKey = Callable[..., str]


@pytest.fixture
def issue_key(session: Session, runtime: PublicApiRuntime) -> IssueKey:
    def issue(
        world: World | TenantWorld,
        scopes: Sequence[str] = ALL_SCOPES,
        *,
        expires_at: datetime | None = None,
        name: str = "test key",
    ) -> str:
        with tenant_context(session, world.tenant.id):
            issued = api_keys.create_api_key(
                session,
                actor=ACTOR,
                codec=runtime.codec,
                name=name,
                scopes=scopes,
                expires_at=expires_at,
            )
        session.flush()
        return issued.secret

    return issue


@pytest.fixture
def public(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
