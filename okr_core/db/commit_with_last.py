"""A transaction's last statement sent together with its COMMIT (PostgreSQL, psycopg 3).

A statement that updates a row many requests update (a big group's version, bumped by every
member added) holds that row's lock until its transaction commits. Sent the usual way, the
COMMIT leaves the client only after the statement's result has come back and the client's
thread has run again; on a busy API process that round trip was most of the time the lock was
held, and the other requests queued behind it (adding one member per request from 8
connections to one group: about four of the eight waiting for the lock at any moment,
measured in ``pg_stat_activity``). In psycopg's pipeline mode both go out at once, and the lock
is held for the statement and the commit's WAL flush only.

The unit of work decides: :func:`allow` marks a session whose unit of work ends right after
that statement (nothing read or written after it) and commits for real. Then
:func:`execute_last` commits the transaction itself, and the unit of work's own commit finds
nothing left to do (psycopg's ``commit`` is a no-op outside a transaction). Anywhere else — no
permission, a savepoint (the tests' units of work), SQLite, another driver — the statement runs
as usual and the unit of work commits it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import exc
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

_ALLOWED = "okr.commit_with_last"


def allow(session: Session) -> None:
    """Let the session's next :func:`execute_last` commit its transaction."""
    session.info[_ALLOWED] = True


def execute_last(session: Session, statement: TextClause, params: dict[str, Any]) -> Any:
    """The first row of ``statement`` (or None), run as the transaction's last statement:
    with the COMMIT in the same pipeline when :func:`allow` was called for this session (and
    it is a plain PostgreSQL transaction on psycopg), else as usual. Errors surface as
    SQLAlchemy's exceptions either way."""
    connection = session.connection()
    dialect = connection.dialect
    pipelined = (
        session.info.pop(_ALLOWED, False)
        and dialect.name == "postgresql"
        and dialect.driver == "psycopg"
        and not session.in_nested_transaction()
    )
    if not pipelined:
        return connection.execute(statement, params).first()
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)
    values = compiled.construct_params(params)
    raw: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        with raw.pipeline():
            cursor = raw.cursor(row_factory=namedtuple_row)
            cursor.execute(sql, values)
            raw.commit()
        return cursor.fetchone()
    except psycopg.Error as error:
        # SQLAlchemy's own error handling is bypassed here: a connection the error left
        # unusable is invalidated as that handling would, so the pool does not hand it out.
        invalidated = raw.broken or raw.closed
        if invalidated:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(
            sql,
            values,
            error,
            psycopg.Error,
            connection_invalidated=invalidated,
            dialect=dialect,
        ) from error
