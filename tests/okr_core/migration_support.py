"""A database of a test's own, empty, on SQLite or PostgreSQL, stepping its schema down, and
what a migration must keep: for tests of migrations and of anything that must start from a
bare, committed database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import downgrade as downgrade
from okr_core.models import Integration, Metric, SyncRun, SyncStatus, SyncTrigger
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from tests.okr_core.sources.support import bind, create_key_result, create_tenant
from tests.okr_pipelines.conftest import create_pg_database, drop_pg_database, pg_url

BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a new, empty database (not migrated); a PostgreSQL one is dropped after."""
    data_dir = tmp_path / "data"
    if backend == "sqlite":
        yield Settings(environment="test", data_dir=data_dir, database_url="")
        return
    name = create_pg_database()
    try:
        yield Settings(environment="test", data_dir=data_dir, database_url=pg_url(name))
    finally:
        drop_pg_database(name)


def columns(settings: Settings, table: str) -> set[str]:
    """The column names ``table`` has now."""
    engine = make_engine(settings, as_owner=True)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


# What hangs off an integration, which a migration of the integrations table must keep.
INTEGRATION_TABLES = ("integrations", "kr_bindings", "sync_runs")


def seed_bound_integration(
    settings: Settings,
    *,
    credentials: dict[str, str],
    metric: Metric,
    binding: dict[str, Any],
    **fields: Any,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A tenant "kept" with one integration (``fields``, ``credentials`` encrypted), a key
    result bound to it (``metric``, ``binding``) and a finished sync run; returns the tenant's
    and the integration's ids."""
    engine = make_engine(settings)
    cipher = CredentialCipher.from_settings(settings)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            tenant_id = create_tenant(session, "kept")
            with tenant_context(session, tenant_id):
                integration = Integration(
                    credentials_ciphertext=cipher.encrypt(credentials), **fields
                )
                session.add(integration)
                session.flush()
                bind(
                    session,
                    key_result=create_key_result(session),
                    integration=integration,
                    metric=metric,
                    **binding,
                )
                session.add(
                    SyncRun(
                        integration_id=integration.id,
                        trigger=SyncTrigger.manual,
                        status=SyncStatus.succeeded,
                    )
                )
                return tenant_id, integration.id
    finally:
        engine.dispose()


def row_ids(settings: Settings, table: str) -> list[tuple[object, ...]]:
    """The ids of every row of ``table``, in order (what another connection sees)."""
    engine = make_engine(settings, as_owner=True)
    try:
        with engine.connect() as connection:
            query = f"SELECT id FROM {table} ORDER BY id"
            return [tuple(r) for r in connection.execute(text(query))]
    finally:
        engine.dispose()
