"""Migration 0008 (provisioning indexes) on SQLite and PostgreSQL, and the plan it exists for:
a userName look-up uses the unique index even before the table was ever analyzed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from okr_api.scim import queries as q
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import current_revision, upgrade
from okr_core.settings import Settings
from tests.okr_core.migration_support import BACKENDS, downgrade, fresh_database
from tests.okr_core.sources.support import create_tenant

TABLES = ("users", "identity_links", "user_emails", "groups", "audit_events")


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with fresh_database(request.param, tmp_path) as settings:
        yield settings


def index_names(settings: Settings, table: str) -> set[str]:
    engine = make_engine(settings, as_owner=True)
    query = (
        "SELECT indexname FROM pg_indexes WHERE tablename = :t"
        if settings.database_url
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
    )
    try:
        with engine.connect() as connection:
            return {str(n) for n in connection.execute(text(query), {"t": table}).scalars()}
    finally:
        engine.dispose()


def index_sql(settings: Settings, name: str) -> str:
    engine = make_engine(settings, as_owner=True)
    query = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
        if settings.database_url
        else "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
    )
    try:
        with engine.connect() as connection:
            return str(connection.execute(text(query), {"n": name}).scalar_one())
    finally:
        engine.dispose()


def test_0008_round_trip(settings: Settings) -> None:
    upgrade(settings, "0008")
    assert current_revision(settings) == "0008"
    for table in TABLES:
        assert f"ix_{table}_tenant_id" not in index_names(settings, table)
    name_key = index_sql(settings, "ix_groups_tenant_name_key").lower()
    assert re.search(r"tenant_id, lower\(\(?display_name", name_key), name_key
    assert "external_id is not null" in index_sql(settings, "ix_identity_links_external").lower()

    downgrade(settings, "0007")
    assert current_revision(settings) == "0007"
    for table in TABLES:
        assert f"ix_{table}_tenant_id" in index_names(settings, table)
    assert "ix_groups_tenant_name_key" not in index_names(settings, "groups")
    assert "is not null" not in index_sql(settings, "ix_identity_links_external").lower()

    upgrade(settings, "0008")
    assert current_revision(settings) == "0008"


def _positional(sql: str) -> tuple[str, list[str]]:
    """A ``:name`` statement as ``$n`` placeholders, for PREPARE."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<!:):(\w+)", number, sql), names


@pytest.mark.parametrize("revision", ["0008"])
def test_username_lookup_uses_the_unique_index_before_any_analyze(
    tmp_path: Path, revision: str
) -> None:
    """The generic plan (what a prepared statement settles on) of the create statement's
    look-up of userName and e-mail, on a never-analyzed table of 3,000 links: index probes
    only."""
    with fresh_database("postgresql", tmp_path) as settings:
        upgrade(settings, revision)
        engine = make_engine(settings, as_owner=True)
        with unit_of_work(make_session_factory(engine)) as session:
            tenant_id = create_tenant(session, "plans")
        with engine.begin() as connection:
            for table in ("users", "identity_links"):
                connection.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
            connection.execute(
                text(
                    "INSERT INTO users (id, tenant_id, email, display_name, is_active,"
                    " session_epoch, created_at, updated_at)"
                    " SELECT gen_random_uuid(), :t, 'u' || g || '@example.com', 'U', true, 0,"
                    " now(), now() FROM generate_series(1, 3000) g"
                ),
                {"t": tenant_id},
            )
            connection.execute(
                text(
                    "INSERT INTO identity_links (id, tenant_id, provider, user_id, user_name,"
                    " user_name_key, attributes, version, created_at, updated_at)"
                    " SELECT gen_random_uuid(), tenant_id, 'scim', id, email, email, '{}', 1,"
                    " now(), now() FROM users"
                )
            )
            sql, names = _positional(q.HOLDERS_SQL)
            values = {
                "t_id": f"'{tenant_id}'::uuid",
                "name_key": "'nobody@example.com'",
                "email": "'nobody@example.com'",
            }
            connection.execute(text("SET plan_cache_mode = force_generic_plan"))
            connection.exec_driver_sql(f"PREPARE holders AS {sql}")
            plan = "\n".join(
                row[0]
                for row in connection.exec_driver_sql(
                    f"EXPLAIN EXECUTE holders({', '.join(values[n] for n in names)})"
                )
            )
        engine.dispose()
    assert "uq_identity_links_tenant_id_provider_user_name_key" in plan, plan
    assert "uq_users_tenant_id_email" in plan, plan
    assert "Filter" not in plan, plan
