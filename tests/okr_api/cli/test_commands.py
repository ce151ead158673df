"""``okr-hub db|tenants|users|serve``: what operators and scripts see, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from okr_core import tenants
from okr_core.db.engine import make_engine
from okr_core.db.migrate import alembic_config, current_revision
from okr_core.roles import Role
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from okr_core.users import authenticate, effective_role
from tests.okr_api.cli.conftest import Invoke

PG_ADMIN_URL = os.environ.get(
    "OKR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _head(settings: Settings) -> str:
    heads = ScriptDirectory.from_config(alembic_config(settings)).get_heads()
    assert len(heads) == 1
    return heads[0]


def _assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in stderr


def test_db_upgrade_migrates_an_empty_database_to_head(
    okr_hub: Invoke, cli_settings: Settings
) -> None:
    result = okr_hub("db", "upgrade")

    assert result.exit_code == 0, result.output
    head = _head(cli_settings)
    assert current_revision(cli_settings) == head
    assert f"revision {head} (head)" in result.stdout
    assert okr_hub("db", "current").stdout.strip() == f"{head} (head)"


def test_db_upgrade_twice_changes_nothing(migrated: Invoke, cli_settings: Settings) -> None:
    result = migrated("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert f"up to date at revision {_head(cli_settings)}" in result.stdout


def test_db_current_reports_pending_migrations(okr_hub: Invoke) -> None:
    result = okr_hub("db", "current")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("none (")
    assert "okr-hub db upgrade" in result.stdout


def test_tenants_create_prints_the_new_id_alone(migrated: Invoke, cli_settings: Settings) -> None:
    result = migrated("tenants", "create", "acme", "--name", "Acme Corp")

    assert result.exit_code == 0, result.output
    tenant_id = uuid.UUID(result.stdout.strip())
    with Session(make_engine(cli_settings, as_owner=True)) as session:
        tenant = tenants.get_tenant_by_slug(session, "acme")
        assert (tenant.id, tenant.name) == (tenant_id, "Acme Corp")


def test_tenants_list_shows_each_tenant(migrated: Invoke) -> None:
    migrated("tenants", "create", "acme", "--name", "Acme [Corp]")
    migrated("tenants", "create", "globex", "--name", "Globex")

    result = migrated("tenants", "list")

    assert result.exit_code == 0, result.output
    for text in ("acme", "Acme [Corp]", "globex", "Globex", "active"):
        assert text in result.stdout


def test_duplicate_tenant_is_a_one_line_error(migrated: Invoke) -> None:
    migrated("tenants", "create", "acme", "--name", "Acme")

    result = migrated("tenants", "create", "acme", "--name", "Acme again")

    assert result.exit_code == 1
    assert result.stdout == ""
    _assert_one_line_error(result.stderr, "a tenant with slug 'acme' already exists")


def test_invalid_slug_is_a_one_line_error(migrated: Invoke) -> None:
    result = migrated("tenants", "create", "Not A Slug!", "--name", "Acme")

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "slug must be")


def test_create_admin_prints_a_password_on_the_last_line_that_signs_in(
    migrated: Invoke, cli_settings: Settings
) -> None:
    migrated("tenants", "create", "acme", "--name", "Acme")

    result = migrated(
        "users", "create-admin", "--tenant", "acme", "--email", "Root@Acme.example.com"
    )

    assert result.exit_code == 0, result.output
    password = result.stdout.strip().splitlines()[-1]
    assert len(password) >= 20
    assert " " not in password
    assert password not in result.stderr
    with Session(make_engine(cli_settings, as_owner=True)) as session:
        tenant = tenants.get_tenant_by_slug(session, "acme")
        with tenant_context(session, tenant.id):
            user = authenticate(session, email="root@acme.example.com", password=password)
            assert user is not None
            assert effective_role(session, user) is Role.tenant_admin
            assert authenticate(session, email=user.email, password=password + "x") is None


def test_create_admin_with_a_given_password_never_prints_it(
    migrated: Invoke, cli_settings: Settings
) -> None:
    migrated("tenants", "create", "acme", "--name", "Acme")
    password = "a given password of enough length"

    result = migrated(
        "users",
        "create-admin",
        "--tenant",
        "acme",
        "--email",
        "ops@acme.example.com",
        "--name",
        "Ops",
        "--password",
        password,
    )

    assert result.exit_code == 0, result.output
    assert password not in result.output
    with Session(make_engine(cli_settings, as_owner=True)) as session:
        tenant = tenants.get_tenant_by_slug(session, "acme")
        with tenant_context(session, tenant.id):
            user = authenticate(session, email="ops@acme.example.com", password=password)
            assert user is not None
            assert user.display_name == "Ops"


def test_create_admin_for_an_unknown_tenant_is_a_clear_error(migrated: Invoke) -> None:
    result = migrated("users", "create-admin", "--tenant", "nope", "--email", "a@b.example.com")

    assert result.exit_code == 1
    assert result.stdout == ""
    _assert_one_line_error(result.stderr, "tenant 'nope' was not found")


def test_create_admin_twice_is_a_conflict(migrated: Invoke) -> None:
    migrated("tenants", "create", "acme", "--name", "Acme")
    args = ("users", "create-admin", "--tenant", "acme", "--email", "root@acme.example.com")
    migrated(*args)

    result = migrated(*args)

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "already exists")


def test_short_password_is_refused_without_echoing_it(migrated: Invoke) -> None:
    migrated("tenants", "create", "acme", "--name", "Acme")

    result = migrated(
        "users", "create-admin", "--tenant", "acme", "--email", "a@acme.example.com",
        "--password", "short-pw",
    )  # fmt: skip

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "password must be at least")
    assert "short-pw" not in result.output


def test_unmigrated_database_points_at_db_upgrade(okr_hub: Invoke) -> None:
    result = okr_hub("tenants", "list")

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "database error", "okr-hub db upgrade")


def test_invalid_settings_name_the_variable_and_hide_the_value(okr_hub: Invoke) -> None:
    result = okr_hub("tenants", "list", env={"OKR_API_PORT": "not-a-port-secret"})

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "configuration error", "OKR_API_PORT")
    assert "not-a-port-secret" not in result.stderr


def test_production_refuses_the_placeholder_secret(okr_hub: Invoke) -> None:
    result = okr_hub("db", "upgrade", env={"OKR_ENVIRONMENT": "production"})

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "OKR_SECRET_KEY")


def test_unreachable_database_is_a_one_line_error(okr_hub: Invoke) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://postgres:hunter2-secret@127.0.0.1:{port}/nowhere"

    result = okr_hub("db", "upgrade", env={"OKR_DATABASE_URL": url})

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "database error")
    assert "hunter2-secret" not in result.output


def test_serve_on_a_taken_port_fails_fast(okr_hub: Invoke) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        result = okr_hub("serve", "--port", str(port))

    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, f"port {port}", "--port")


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A fresh, unmigrated database, dropped afterwards."""
    name = f"okr_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_and_create_tenant_on_postgresql(okr_hub: Invoke, postgresql_url: str) -> None:
    env = {"OKR_DATABASE_URL": postgresql_url}

    upgraded = okr_hub("db", "upgrade", env=env)
    created = okr_hub("tenants", "create", "acme", "--name", "Acme", env=env)
    listed = okr_hub("tenants", "list", env=env)

    assert upgraded.exit_code == 0, upgraded.output
    assert "postgresql+psycopg://postgres@127.0.0.1" in upgraded.stdout
    assert created.exit_code == 0, created.output
    tenant_id = uuid.UUID(created.stdout.strip())
    assert "acme" in listed.stdout
    with psycopg.connect(postgresql_url) as conn:
        row = conn.execute("SELECT id, slug FROM tenants").fetchone()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    assert (uuid.UUID(str(row[0])), row[1]) == (tenant_id, "acme")
    settings = Settings(database_url=postgresql_url)
    assert version is not None
    assert version[0] == _head(settings)
