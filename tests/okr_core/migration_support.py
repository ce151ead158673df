"""A database of a test's own, empty, on SQLite or PostgreSQL, and stepping its schema down:
for tests of migrations and of anything that must start from a bare, committed database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from okr_core.db.engine import make_engine
from okr_core.db.migrate import alembic_config
from okr_core.settings import Settings
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


def downgrade(settings: Settings, revision: str) -> None:
    config = alembic_config(settings)
    engine = make_engine(settings, as_owner=True)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def columns(settings: Settings, table: str) -> set[str]:
    """The column names ``table`` has now."""
    engine = make_engine(settings, as_owner=True)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()
