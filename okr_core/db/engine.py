"""Engines and sessions. Built by callers (app lifespan, Dagster resources, CLI), never at import.

On PostgreSQL the service engine logs in as the application role, which is neither the tables'
owner nor a superuser and cannot switch to one, so row-level security always applies to it.
Migrations use the owner's URL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
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
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", settings.database_pool_size)
        kwargs.setdefault("max_overflow", settings.database_pool_size)
    engine = create_engine(url, **kwargs)
    ping_idle_connections(engine, PING_AFTER_IDLE_SECONDS)
    return engine


# A pooled connection idle at least this long is pinged before it is handed out. One in steady
# use (checked back in a moment ago) is not: a ping on every checkout is a round trip per
# request, and a connection that died while busy fails its statement either way.
PING_AFTER_IDLE_SECONDS = 2.0
_CHECKED_IN_AT = "okr_checked_in_at"


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling for connections that sat idle in the pool.

    On check-in the connection's record notes the time; on checkout a connection idle for
    ``idle_seconds`` or more is pinged, and one that fails the ping is replaced by a fresh
    connection (SQLAlchemy's pool retries a checkout that raises ``DisconnectionError``).
    A connection never checked in (just opened) carries no time and is not pinged.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.pop(_CHECKED_IN_AT, None)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"idle connection failed its ping: {error}") from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Embedded SQLite: WAL with ``synchronous=NORMAL`` (SQLite's recommended pair: never
    corrupt, commits survive a process crash; a power cut may lose the last commits, which for a
    sync only repeats work, since landed files are fsynced before the watermark commit)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
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
