"""Tenant isolation: ORM scoping on every backend, row-level security on PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from okr_core import objectives, tenants
from okr_core.actors import Actor
from okr_core.db.engine import make_engine
from okr_core.errors import MissingTenantContext, NotFound
from okr_core.models import AuditEvent, Objective, Tenant
from okr_core.periods import parse_period
from okr_core.settings import Settings
from okr_core.tenancy import bind_tenant, tenant_context, unbind_tenant
from tests.conftest import PG_ADMIN_URL

ACTOR = Actor.system("test")


def _two_tenants_with_objectives(session: Session) -> tuple[Tenant, Tenant]:
    a = tenants.create_tenant(session, slug="tenant-a", name="A")
    b = tenants.create_tenant(session, slug="tenant-b", name="B")
    for tenant in (a, b):
        with tenant_context(session, tenant.id):
            objectives.create_objective(
                session, actor=ACTOR, title=f"Objective of {tenant.slug}", period="2026-Q4"
            )
    session.flush()
    return a, b


def test_orm_queries_see_only_the_bound_tenant(session: Session) -> None:
    a, b = _two_tenants_with_objectives(session)
    bind_tenant(session, a.id)
    titles = session.scalars(select(Objective.title)).all()
    assert titles == ["Objective of tenant-a"]
    bind_tenant(session, b.id)
    assert session.scalars(select(Objective.title)).all() == ["Objective of tenant-b"]


def test_orm_query_without_tenant_sees_nothing(session: Session) -> None:
    _two_tenants_with_objectives(session)
    unbind_tenant(session)
    assert session.scalars(select(Objective)).all() == []


def test_other_tenants_objective_is_not_found(session: Session) -> None:
    a, b = _two_tenants_with_objectives(session)
    with tenant_context(session, b.id):
        b_objective = session.scalars(select(Objective)).one()
    with tenant_context(session, a.id), pytest.raises(NotFound):
        objectives.get_objective(session, b_objective.id)


def test_writing_another_tenants_row_is_refused(session: Session) -> None:
    a, b = _two_tenants_with_objectives(session)
    quarter = parse_period("2026-Q4")
    smuggled = Objective(
        tenant_id=b.id,
        title="smuggled",
        period=quarter.name,
        period_start=quarter.start,
        period_end=quarter.end,
    )
    with tenant_context(session, a.id):
        session.add(smuggled)
        with pytest.raises(MissingTenantContext):
            session.flush()
        session.expunge(smuggled)


def test_creating_without_tenant_is_refused(session: Session) -> None:
    with pytest.raises(MissingTenantContext):
        objectives.create_objective(session, actor=ACTOR, title="orphan", period="2026-Q4")


INSERT_FOR_TENANT = text(
    "INSERT INTO objectives (id, tenant_id, title, description, period, period_start, "
    "period_end, status, created_at, updated_at) VALUES (gen_random_uuid(), :tenant, 'x', '', "
    "'2026-Q4', now(), now(), 'active', now(), now())"
)
SET_TENANT = text("SELECT set_config('okr.tenant_id', :t, true)")


def test_row_level_security_isolates_raw_sql(postgresql_settings: Settings) -> None:
    """Hand-written SQL bypasses the ORM scoping; PostgreSQL row-level security still holds."""
    app_engine = make_engine(postgresql_settings)
    owner_engine = make_engine(postgresql_settings, as_owner=True)
    try:
        with Session(app_engine, expire_on_commit=False) as session:
            a, b = _two_tenants_with_objectives(session)
            session.commit()
        with app_engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == "okr_app"
            assert conn.execute(text("SELECT count(*) FROM objectives")).scalar() == 0
            conn.execute(SET_TENANT, {"t": str(a.id)})
            rows = conn.execute(text("SELECT title, tenant_id FROM objectives")).all()
            assert [(r.title, r.tenant_id) for r in rows] == [("Objective of tenant-a", a.id)]
            with pytest.raises(Exception, match="row-level security"):
                conn.execute(INSERT_FOR_TENANT, {"tenant": str(b.id)})
            conn.rollback()
            # The setting is per transaction: the next one starts without a tenant again.
            assert conn.execute(text("SELECT count(*) FROM objectives")).scalar() == 0
            conn.rollback()
        with app_engine.connect() as conn, pytest.raises(Exception, match=r"permission denied"):
            conn.execute(text("SET ROLE postgres"))
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text("SELECT set_config('okr.audit_purge', 'on', true)"))
            conn.execute(text("DELETE FROM tenants WHERE slug IN ('tenant-a', 'tenant-b')"))
        app_engine.dispose()
        owner_engine.dispose()


def test_audit_events_are_append_only(session: Session) -> None:
    tenant = tenants.create_tenant(session, slug="audited", name="Audited")
    with tenant_context(session, tenant.id):
        objectives.create_objective(session, actor=ACTOR, title="Tracked", period="2026-Q4")
        session.flush()
        for statement in (
            "UPDATE audit_events SET action = 'tampered'",
            "DELETE FROM audit_events",
        ):
            with (
                pytest.raises(Exception, match=r"append-only|permission denied"),
                session.begin_nested(),
            ):
                session.execute(text(statement))
        assert session.scalars(select(AuditEvent.action)).all() == ["objective.created"]


def test_integration_owner_lookup_crosses_tenants_only_for_the_owner(session: Session) -> None:
    from okr_core.models import AuthKind, Integration, Source
    from okr_core.tenancy import tenant_for_integration

    a, b = _two_tenants_with_objectives(session)
    with tenant_context(session, b.id):
        integration = Integration(
            source=Source.github,
            name="GitHub",
            base_url="http://127.0.0.1:1",
            auth_kind=AuthKind.token,
            credentials_ciphertext="x",
        )
        session.add(integration)
        session.flush()
    with tenant_context(session, a.id):
        assert tenant_for_integration(session, integration.id) == b.id
        assert session.scalars(select(Integration)).all() == []
    assert tenant_for_integration(session, uuid.uuid4()) is None


CURRENT_TENANT = text("SELECT current_setting('okr.tenant_id', true)")


def test_session_sets_the_tenant_per_transaction_only(postgresql_settings: Settings) -> None:
    """The setting is made at each transaction's begin and dies with the transaction: the same
    pooled connection starts its next transaction without it."""
    engine = make_engine(postgresql_settings, pool_size=1, max_overflow=0)
    tenant_id = uuid.uuid4()
    try:
        with Session(engine) as session:
            bind_tenant(session, tenant_id)
            assert session.execute(CURRENT_TENANT).scalar() == str(tenant_id)
            session.commit()
            assert session.execute(CURRENT_TENANT).scalar() == str(tenant_id)  # begun again
            unbind_tenant(session)
            assert session.execute(CURRENT_TENANT).scalar() == ""
            session.rollback()
        with engine.connect() as conn:  # the same connection, no tenant bound by anyone
            assert conn.execute(CURRENT_TENANT).scalar() in (None, "")
    finally:
        engine.dispose()


def test_tenant_setting_on_a_dead_connection_fails_as_sqlalchemy_does(
    postgresql_settings: Settings,
) -> None:
    """A connection that died under a session's first statement raises SQLAlchemy's
    disconnect error (not the driver's) and is replaced for the next transaction."""
    engine = make_engine(postgresql_settings, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with Session(engine) as session:
            bind_tenant(session, uuid.uuid4())
            with pytest.raises(DBAPIError) as raised:
                session.execute(text("SELECT 1"))
            assert raised.value.connection_invalidated
        with Session(engine) as session:
            bind_tenant(session, uuid.uuid4())
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()


def test_begin_and_tenant_travel_together_and_the_transaction_is_real(
    postgresql_settings: Settings,
) -> None:
    """With psycopg the transaction's BEGIN and the tenant setting are one message: the server
    shows one transaction open before the first statement, and a rollback undoes its writes."""
    engine = make_engine(postgresql_settings, pool_size=1, max_overflow=0)
    try:
        with Session(engine) as session:
            bind_tenant(session, uuid.uuid4())
            raw = session.connection().connection.dbapi_connection
            assert raw is not None
            assert raw.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS
            started = session.execute(text("SELECT now() = statement_timestamp()")).scalar()
            assert started is False  # the statement ran inside an already open transaction
            session.execute(text("CREATE TEMP TABLE begin_probe (x int)"))
            session.execute(text("INSERT INTO begin_probe VALUES (1)"))
            session.rollback()
            bind_tenant(session, uuid.uuid4())
            missing = session.execute(text("SELECT to_regclass('pg_temp.begin_probe')")).scalar()
            assert missing is None  # rolled back with the transaction
    finally:
        engine.dispose()


def test_a_chosen_isolation_level_is_kept(postgresql_settings: Settings) -> None:
    """A transaction that asks for another isolation level is begun by psycopg as usual (the
    one-message BEGIN would not carry it), and the tenant is still set."""
    engine = make_engine(postgresql_settings, pool_size=1, max_overflow=0)
    serializable = engine.execution_options(isolation_level="SERIALIZABLE")
    tenant_id = uuid.uuid4()
    try:
        with Session(serializable) as session:
            bind_tenant(session, tenant_id)
            level = session.execute(text("SHOW transaction_isolation")).scalar()
            assert level == "serializable"
            assert session.execute(CURRENT_TENANT).scalar() == str(tenant_id)
    finally:
        engine.dispose()
