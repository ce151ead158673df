"""Tenant context: the one mechanism that scopes every query to one tenant.

A session carries its tenant in ``session.info``. Two layers enforce it:

* every ORM statement on a :class:`TenantOwned` class is filtered to that tenant (and to nothing
  when no tenant is bound), and new rows are stamped with it; this is the whole rule on SQLite;
* on PostgreSQL each transaction also sets ``okr.tenant_id``, which row-level security policies
  compare against, so even hand-written SQL cannot read another tenant's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import bindparam, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria

from okr_core.db.base import TenantOwned
from okr_core.errors import MissingTenantContext

TENANT_SETTING = "okr.tenant_id"
_TENANT_KEY = "okr_tenant_id"
# A tenant id that never exists: queries without a tenant match no rows instead of all rows.
NO_TENANT = uuid.UUID(int=0)


def bind_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """Scope ``session`` to ``tenant_id`` from now on (including the open transaction)."""
    _flush_before_switch(session, tenant_id)
    session.info[_TENANT_KEY] = tenant_id
    if session.in_transaction():
        _set_database_tenant(session.connection(), tenant_id)


def unbind_tenant(session: Session) -> None:
    _flush_before_switch(session, None)
    session.info.pop(_TENANT_KEY, None)
    if session.in_transaction():
        _set_database_tenant(session.connection(), None)


def current_tenant(session: Session) -> uuid.UUID | None:
    value = session.info.get(_TENANT_KEY)
    return value if isinstance(value, uuid.UUID) else None


def require_tenant(session: Session) -> uuid.UUID:
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise MissingTenantContext("this operation needs a tenant context")
    return tenant_id


@contextmanager
def tenant_context(session: Session, tenant_id: uuid.UUID) -> Iterator[Session]:
    """Temporarily scope ``session`` to a tenant, restoring the previous scope afterwards."""
    previous = current_tenant(session)
    bind_tenant(session, tenant_id)
    try:
        yield session
    finally:
        if previous is None:
            unbind_tenant(session)
        else:
            bind_tenant(session, previous)


def _flush_before_switch(session: Session, tenant_id: uuid.UUID | None) -> None:
    """Pending rows belong to the tenant they were made under: write them before switching."""
    if current_tenant(session) != tenant_id and (session.new or session.dirty or session.deleted):
        session.flush()


_SET_TENANT_SQL = f"SELECT set_config('{TENANT_SETTING}', %s, true)"
_SET_TENANT_TEXT = text("SELECT set_config(:name, :value, true)")
_RAW_CURSOR_DRIVERS = frozenset({"psycopg", "psycopg2"})


def _set_database_tenant(connection: Connection, tenant_id: uuid.UUID | None) -> None:
    """Set ``okr.tenant_id`` for the connection's current transaction only (``is_local``).

    Runs at every transaction's begin, so it goes straight to the driver: the Core execution
    path around one fixed statement (compile cache, execution context, events) cost more
    client CPU than the round trip. With psycopg 3 the transaction's ``BEGIN`` travels in the
    same message (see ``_begin_with_tenant``): one round trip where there were two. Should the
    raw statement fail (a dead connection), it is issued again through Core so SQLAlchemy's
    handling applies: disconnect detection, the connection's invalidation and the usual
    exception types.
    """
    dialect = connection.dialect
    if dialect.name != "postgresql":
        return
    value = str(tenant_id) if tenant_id else ""
    if dialect.driver in _RAW_CURSOR_DRIVERS:
        try:
            dbapi_connection = connection.connection.dbapi_connection
            if dialect.driver == "psycopg" and _begin_with_tenant(dbapi_connection, value):
                return
            cursor = connection.connection.cursor()
            try:
                cursor.execute(_SET_TENANT_SQL, (value,))
            finally:
                cursor.close()
            return
        except dialect.loaded_dbapi.Error:
            pass
    connection.execute(_SET_TENANT_TEXT, {"name": TENANT_SETTING, "value": value})


def _begin_with_tenant(dbapi_connection: Any, value: str) -> bool:
    """psycopg 3: ``BEGIN; SELECT set_config(...)`` as one simple-query message; False (and
    nothing sent) when the transaction is not a plain one psycopg would open with ``BEGIN``.

    psycopg opens a transaction lazily, with a ``BEGIN`` round trip of its own before the
    first statement, unless the server already reports one open: sending both here through
    the documented low-level ``pgconn`` leaves psycopg's own state consistent (it reads the
    transaction status from libpq) and its ``commit``/``rollback`` end the transaction as
    usual. ``value`` is a UUID's text or empty, so it is safe as a literal.
    """
    if (
        dbapi_connection.autocommit
        or dbapi_connection.isolation_level is not None
        or dbapi_connection.read_only is not None
        or dbapi_connection.deferrable is not None
    ):
        return False
    pgconn = dbapi_connection.pgconn
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    if value and str(uuid.UUID(value)) != value:
        raise ValueError("a tenant id must be a UUID")
    result = pgconn.exec_(
        b"BEGIN; SELECT set_config('"
        + TENANT_SETTING.encode()
        + b"', '"
        + value.encode()
        + b"', true)"
    )
    if result.status != pq.ExecStatus.TUPLES_OK:
        message = (result.error_message or b"").decode(errors="replace")
        raise psycopg.OperationalError(f"could not begin the tenant's transaction: {message}")
    return True


CREDENTIAL_TABLES = frozenset({"api_keys", "scim_tokens"})


def tenant_for_credential(
    session: Session, *, table: str, digest: str
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(tenant_id, row_id)`` of the credential with this digest, in any tenant, or None.

    The one sanctioned cross-tenant read: it answers only which tenant owns a presented secret's
    digest, so the caller can bind that tenant and read the credential under normal scoping. On
    PostgreSQL it runs through a SECURITY DEFINER function (migration 0002), since RLS hides the
    row from the application role.
    """
    if table not in CREDENTIAL_TABLES:
        raise ValueError(f"{table} is not a credential table")
    if session.get_bind().dialect.name == "postgresql":
        sql = text("SELECT tenant_id, credential_id FROM okr_tenant_for_credential(:t, :d)")
        params = {"t": table, "d": digest}
    else:
        sql = text(f"SELECT tenant_id, id FROM {table} WHERE digest = :d")
        params = {"d": digest}
    row = session.execute(sql, params).first()
    if row is None:
        return None
    return _as_uuid(row[0]), _as_uuid(row[1])


def tenant_for_any_credential(
    session: Session, *, table: str, digests: Sequence[str]
) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """``(tenant_id, row_id, stored digest)`` of the credential stored under any of ``digests``
    (earliest in the list wins), in one statement.

    The plural of :func:`tenant_for_credential`, answering the same single question, for a
    secret presented after ``OKR_SECRET_KEY`` was rotated (its digest under the current and each
    previous secret). On PostgreSQL it runs the SECURITY DEFINER function once per digest inside
    one query (each an index lookup on ``digest``); elsewhere it is ``digest IN (...)`` on the
    unique index.
    """
    if table not in CREDENTIAL_TABLES:
        raise ValueError(f"{table} is not a credential table")
    if session.get_bind().dialect.name == "postgresql":
        stmt = text(
            "SELECT c.tenant_id, c.credential_id, d.digest"
            " FROM unnest(CAST(:digests AS text[])) WITH ORDINALITY AS d(digest, position)"
            " CROSS JOIN LATERAL okr_tenant_for_credential(:t, d.digest) AS c"
            " ORDER BY d.position LIMIT 1"
        )
        row = session.execute(stmt, {"digests": list(digests), "t": table}).first()
    else:
        stmt = text(f"SELECT tenant_id, id, digest FROM {table} WHERE digest IN :digests")
        stmt = stmt.bindparams(bindparam("digests", expanding=True))
        rows = sorted(
            session.execute(stmt, {"digests": list(digests)}).all(),
            key=lambda r: list(digests).index(r[2]),
        )
        row = rows[0] if rows else None
    if row is None:
        return None
    return _as_uuid(row[0]), _as_uuid(row[1]), str(row[2])


def tenant_for_integration(session: Session, integration_id: uuid.UUID) -> uuid.UUID | None:
    """The tenant owning an integration, for webhook deliveries that arrive without a session.

    Like :func:`tenant_for_credential`, it reveals nothing but the owner; the delivery's
    signature is then verified with that tenant's secret under normal scoping.
    """
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(
            text("SELECT okr_tenant_for_integration(:i)"), {"i": integration_id}
        ).scalar()
    else:
        value = session.execute(
            text("SELECT tenant_id FROM integrations WHERE id = :i"), {"i": integration_id.hex}
        ).scalar()
    return None if value is None else _as_uuid(value)


def _as_uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    text_value = str(value)
    return uuid.UUID(hex=text_value) if len(text_value) == 32 else uuid.UUID(text_value)


@event.listens_for(Session, "after_begin")
def _set_tenant_on_begin(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    _set_database_tenant(connection, current_tenant(session))


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statements(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    tenant_id = current_tenant(state.session) or NO_TENANT
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, flush_context: Any, instances: Any) -> None:
    tenant_id = current_tenant(session)
    for obj in session.new:
        if not isinstance(obj, TenantOwned):
            continue
        if obj.tenant_id is None:
            if tenant_id is None:
                raise MissingTenantContext(
                    f"cannot create {type(obj).__name__} without a tenant context"
                )
            obj.tenant_id = tenant_id
        elif tenant_id is not None and obj.tenant_id != tenant_id:
            raise MissingTenantContext(f"refusing to write {type(obj).__name__} for another tenant")
