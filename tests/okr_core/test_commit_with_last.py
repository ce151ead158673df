"""A transaction's last statement sent with its COMMIT: committed at once where the unit of
work allows it on PostgreSQL, as usual everywhere else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from okr_core.db import commit_with_last
from okr_core.db.engine import make_engine, make_session_factory
from okr_core.settings import Settings
from tests.okr_core.migration_support import BACKENDS, fresh_database

INSERT = text("INSERT INTO t (id, name) VALUES (:id, :name) RETURNING id, name")


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    settings: Settings
    with fresh_database(request.param, tmp_path) as settings:
        engine = make_engine(settings, as_owner=True)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (id varchar(36) PRIMARY KEY, name text)"))
        try:
            yield engine
        finally:
            engine.dispose()


def _seen_elsewhere(engine: Engine) -> list[str]:
    with engine.connect() as other:
        return [row.name for row in other.execute(text("SELECT name FROM t ORDER BY name"))]


def test_allowed_on_postgresql_the_statement_is_committed_as_it_is_sent(engine: Engine) -> None:
    session = make_session_factory(engine)()
    try:
        commit_with_last.allow(session)
        row = commit_with_last.execute_last(session, INSERT, {"id": str(uuid.uuid4()), "name": "a"})
        assert row.name == "a"
        committed_now = engine.dialect.name == "postgresql"
        assert _seen_elsewhere(engine) == (["a"] if committed_now else [])
        session.commit()  # nothing left to do on PostgreSQL; the usual commit elsewhere
        assert _seen_elsewhere(engine) == ["a"]
        # The permission was for one statement: the next transaction commits as usual.
        commit_with_last.execute_last(session, INSERT, {"id": str(uuid.uuid4()), "name": "b"})
        assert _seen_elsewhere(engine) == ["a"]
        session.rollback()
        assert _seen_elsewhere(engine) == ["a"]
    finally:
        session.close()


def test_without_permission_or_in_a_savepoint_the_unit_of_work_commits(engine: Engine) -> None:
    session = make_session_factory(engine)()
    try:
        commit_with_last.execute_last(session, INSERT, {"id": "1", "name": "plain"})
        assert _seen_elsewhere(engine) == []
        nested = session.begin_nested()
        commit_with_last.allow(session)
        commit_with_last.execute_last(session, INSERT, {"id": "2", "name": "savepoint"})
        nested.rollback()
        assert _seen_elsewhere(engine) == []  # a test's savepoint is never committed for real
        session.commit()
        assert _seen_elsewhere(engine) == ["plain"]
    finally:
        session.close()


def test_an_error_is_sqlalchemys_and_leaves_nothing(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t (id, name) VALUES ('x', 'first')"))
    session = make_session_factory(engine)()
    try:
        commit_with_last.allow(session)
        with pytest.raises(IntegrityError):
            commit_with_last.execute_last(session, INSERT, {"id": "x", "name": "again"})
        session.rollback()
        assert _seen_elsewhere(engine) == ["first"]
        # the session works afterwards
        commit_with_last.execute_last(session, INSERT, {"id": "y", "name": "second"})
        session.commit()
        assert _seen_elsewhere(engine) == ["first", "second"]
    finally:
        session.close()


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # a server to lose
def test_a_connection_lost_on_the_way_is_invalidated(engine: Engine) -> None:
    session = make_session_factory(engine)()
    try:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        commit_with_last.allow(session)
        with pytest.raises(OperationalError) as raised:
            commit_with_last.execute_last(session, INSERT, {"id": "z", "name": "lost"})
        assert raised.value.connection_invalidated
        session.rollback()
        # the next unit of work gets a working connection
        commit_with_last.execute_last(session, INSERT, {"id": "w", "name": "after"})
        session.commit()
        assert _seen_elsewhere(engine) == ["after"]
    finally:
        session.close()
