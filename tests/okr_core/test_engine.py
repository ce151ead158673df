"""The service engine's disconnect handling: idle pooled connections are pinged on checkout."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from okr_core.db import engine as engine_module
from okr_core.db.engine import make_engine
from okr_core.settings import Settings
from tests.conftest import PG_ADMIN_URL


def _terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_idle_connection_killed_server_side_is_replaced_transparently(
    postgresql_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Threshold 0: every checked-in connection counts as idle, so no sleeping is needed.
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    eng = make_engine(postgresql_settings, pool_size=1, max_overflow=0)
    try:
        with eng.connect() as conn:
            first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(first_pid)
        with eng.connect() as conn:
            second_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert second_pid != first_pid
    finally:
        eng.dispose()


def test_connection_in_steady_use_is_not_pinged(
    postgresql_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked back in less than the threshold ago: handed out as is (no round trip), so a
    connection killed in that window surfaces as an error on its first statement, and the
    pool replaces it for the next checkout."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    eng = make_engine(postgresql_settings, pool_size=1, max_overflow=0)
    pings: list[object] = []
    monkeypatch.setattr(eng.dialect, "do_ping", lambda dbapi_connection: pings.append(1))
    try:
        with eng.connect() as conn:
            first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with eng.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first_pid
        assert pings == []
        _terminate(first_pid)
        with pytest.raises(Exception), eng.connect() as conn:  # noqa: B017, PT011
            conn.execute(text("SELECT 1"))
        with eng.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first_pid
    finally:
        eng.dispose()


def test_fresh_and_idle_connections(
    postgresql_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A just-opened connection is not pinged; one idle past the threshold is, once."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    eng = make_engine(postgresql_settings, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real_ping = eng.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(eng.dialect, "do_ping", counting_ping)
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert pings == []
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        eng.dispose()


def test_embedded_sqlite_runs_wal_with_normal_sync(tmp_path: Any) -> None:
    """WAL + synchronous=NORMAL: what the embedded database relies on for cheap commits."""
    engine = make_engine(Settings(environment="test", data_dir=tmp_path, database_url=""))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
