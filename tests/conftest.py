"""Shared fixtures: migrated databases on SQLite and PostgreSQL, and a rolled-back session per test.

PostgreSQL tests use a fresh database created for the run on 127.0.0.1:5432 (trust auth) and
connect as the application role, exactly as the services do, so row-level security applies.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from okr_core import passwords
from okr_core.db.engine import make_engine
from okr_core.db.migrate import upgrade
from okr_core.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "OKR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def _create_pg_database() -> str:
    name = f"okr_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Minimal argon2 cost in tests: thousands of fixture users would otherwise spend minutes
    hashing. The production parameters are checked in tests/okr_core/test_passwords.py."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture(scope="session")
def postgresql_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    name = _create_pg_database()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    settings = Settings(
        environment="test",
        database_url=f"{base}/{name}",
        data_dir=tmp_path_factory.mktemp("pg-data"),
    )
    upgrade(settings)
    yield settings
    _drop_pg_database(name)


@pytest.fixture(scope="session")
def sqlite_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("sqlite-data")
    settings = Settings(environment="test", data_dir=data_dir)
    upgrade(settings)
    return settings


@pytest.fixture(params=BACKENDS)
def db_settings(request: pytest.FixtureRequest) -> Settings:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_settings")  # type: ignore[no-any-return]


@pytest.fixture
def engine(db_settings: Settings) -> Iterator[Engine]:
    eng = make_engine(db_settings)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        outer.rollback()
        connection.close()
