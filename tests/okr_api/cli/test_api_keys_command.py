"""``okr-hub api-keys``: the new key alone on the last line, valid, stored only as a digest."""

from __future__ import annotations

from sqlalchemy import select

from okr_core.api_keys import ApiKeyCodec, looks_valid
from okr_core.db.engine import make_engine, make_session_factory
from okr_core.models import ApiKey, ApiRateLimit, AuditEvent
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from okr_core.tenants import get_tenant_by_slug
from tests.okr_api.cli.conftest import Invoke


def test_create_prints_the_key_alone_on_the_last_line(
    migrated: Invoke, cli_settings: Settings
) -> None:
    assert migrated("tenants", "create", "acme", "--name", "Acme").exit_code == 0
    result = migrated(
        "api-keys", "create", "--tenant", "acme", "--name", "BI",
        "--scope", "objectives:read", "--scope", "key_results:read",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert looks_valid(key)
    factory = make_session_factory(make_engine(cli_settings, as_owner=True))
    with factory() as session:
        tenant = get_tenant_by_slug(session, "acme")
        with tenant_context(session, tenant.id):
            row = session.scalars(select(ApiKey)).one()
            audit = [str(e.changes) for e in session.scalars(select(AuditEvent))]
    assert row.scopes == ["objectives:read", "key_results:read"]
    assert row.digest == ApiKeyCodec.from_settings(cli_settings).digest(key)
    assert all(key not in text and row.digest not in text for text in audit)


def test_unknown_scope_or_tenant_is_one_line_error(migrated: Invoke) -> None:
    assert migrated("tenants", "create", "acme", "--name", "Acme").exit_code == 0
    bad_scope = migrated("api-keys", "create", "--tenant", "acme", "--name", "x", "--scope", "all")
    assert bad_scope.exit_code == 1
    assert "valid scopes are" in bad_scope.output
    no_tenant = migrated(
        "api-keys", "create", "--tenant", "nope", "--name", "x", "--scope", "objectives:read"
    )
    assert no_tenant.exit_code == 1
    assert "nope" in no_tenant.output


def test_set_limits_stores_the_override(migrated: Invoke, cli_settings: Settings) -> None:
    assert migrated("tenants", "create", "acme", "--name", "Acme").exit_code == 0
    result = migrated("api-keys", "set-limits", "--tenant", "acme", "--per-key", "1200/minute")
    assert result.exit_code == 0, result.output
    factory = make_session_factory(make_engine(cli_settings, as_owner=True))
    with factory() as session:
        tenant = get_tenant_by_slug(session, "acme")
        with tenant_context(session, tenant.id):
            row = session.scalars(select(ApiRateLimit)).one()
    assert (row.per_key, row.per_tenant) == ("1200/minute", None)
