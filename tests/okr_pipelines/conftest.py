"""Fixtures for the code location: app databases whose rows are really committed.

Sensors and runs open their own connections, so they cannot see the rolled-back ``session``
fixture's rows. Each test here gets a freshly migrated database of its own (a SQLite file in
``tmp_path``, or a new PostgreSQL database) and a throwaway Dagster instance.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, instance_for_test
from sqlalchemy.orm import Session

from okr_core import key_results, objectives, tenants, users
from okr_core.actors import Actor
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import upgrade
from okr_core.models import Tenant, TenantStatus
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from okr_pipelines.resources import AppDatabase

PG_ADMIN_URL = os.environ.get(
    "OKR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ACTOR = Actor.system("test")


def create_pg_database() -> str:
    name = f"okr_pipelines_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


@dataclass
class AppDb:
    """A migrated app database plus helpers that commit, as the API would."""

    settings: Settings

    def resource(self) -> AppDatabase:
        """The Dagster resource pointed at this database, whatever the process environment."""
        return AppDatabase(
            data_dir=str(self.settings.data_dir), database_url=self.settings.database_url
        )

    @contextmanager
    def commit(self) -> Iterator[Session]:
        """A unit of work on the app engine that commits on success."""
        engine = make_engine(self.settings)
        try:
            with unit_of_work(make_session_factory(engine)) as session:
                yield session
        finally:
            engine.dispose()

    def create_tenant(
        self, slug: str, *, people: int = 0, objectives_: int = 0, krs_each: int = 0
    ) -> uuid.UUID:
        """A committed tenant with ``people`` users and objectives carrying ``krs_each`` KRs."""
        with self.commit() as session:
            tenant = tenants.create_tenant(session, slug=slug, name=f"Tenant {slug}")
            with tenant_context(session, tenant.id):
                for i in range(people):
                    users.create_user(
                        session,
                        actor=ACTOR,
                        email=f"person{i}@{slug}.example.com",
                        display_name=f"Person {i}",
                    )
                for i in range(objectives_):
                    objective = objectives.create_objective(
                        session, actor=ACTOR, title=f"Objective {i}", period="2026-Q4"
                    )
                    for j in range(krs_each):
                        key_results.create_key_result(
                            session,
                            actor=ACTOR,
                            objective_id=objective.id,
                            title=f"KR {i}.{j}",
                            start_value=0,
                            target_value=10,
                        )
        return tenant.id

    def set_status(self, tenant_id: uuid.UUID, status: TenantStatus) -> None:
        with self.commit() as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            tenant.status = status

    def delete_tenant(self, tenant_id: uuid.UUID) -> None:
        with self.commit() as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            session.delete(tenant)


@pytest.fixture
def sqlite_app_db(tmp_path: Path) -> AppDb:
    settings = Settings(environment="test", data_dir=tmp_path / "okr-data", database_url="")
    upgrade(settings)
    return AppDb(settings)


@pytest.fixture
def postgresql_app_db(tmp_path: Path) -> Iterator[AppDb]:
    name = create_pg_database()
    settings = Settings(
        environment="test", data_dir=tmp_path / "okr-data", database_url=pg_url(name)
    )
    try:
        upgrade(settings)
        yield AppDb(settings)
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def app_db(request: pytest.FixtureRequest) -> AppDb:
    """A fresh committed-to app database, once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_app_db")  # type: ignore[no-any-return]


@pytest.fixture
def dagster_instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance
