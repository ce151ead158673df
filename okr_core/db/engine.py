"""Engines and sessions. Built by callers (app lifespan, Dagster resources, CLI), never at import.

On PostgreSQL the service engine logs in as the application role, which is neither the tables'
owner nor a superuser and cannot switch to one, so row-level security always applies to it.
Migrations use the owner's URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from okr_core.settings import Settings


def make_engine(settings: Settings, *, as_owner: bool = False, **kwargs: Any) -> Engine:
    """An engine for the services, or with ``as_owner`` for migrations and platform tasks."""
    url = settings.resolved_database_url if as_owner else settings.resolved_app_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit once on success, roll back on any error: the only place that commits."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
