"""``okr-hub scim-tokens``: the token alone on the last line, working, stored as a digest."""

from __future__ import annotations

from sqlalchemy import select

from okr_core import scim_tokens
from okr_core.db.engine import make_engine, make_session_factory
from okr_core.models import AuditEvent, ScimToken
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from okr_core.tenants import get_tenant_by_slug
from tests.okr_api.cli.conftest import Invoke


def test_create_prints_the_token_alone_on_the_last_line(
    migrated: Invoke, cli_settings: Settings
) -> None:
    assert migrated("tenants", "create", "acme", "--name", "Acme").exit_code == 0
    result = migrated("scim-tokens", "create", "--tenant", "acme", "--name", "Okta")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert scim_tokens.is_well_formed(token)
    secret = cli_settings.secret_key.get_secret_value()
    factory = make_session_factory(make_engine(cli_settings, as_owner=True))
    with factory() as session:
        tenant = get_tenant_by_slug(session, "acme")
        with tenant_context(session, tenant.id):
            row = session.scalars(select(ScimToken)).one()
            audit = [str(e.changes) for e in session.scalars(select(AuditEvent))]
    assert row.name == "Okta"
    assert row.digest == scim_tokens.digest(token, secret=secret)
    assert all(token not in text for text in audit)
    listed = migrated("scim-tokens", "list", "--tenant", "acme")
    assert "Okta" in listed.output
    assert token not in listed.output
    revoked = migrated("scim-tokens", "revoke", "--tenant", "acme", str(row.id))
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in migrated("scim-tokens", "list", "--tenant", "acme").output


def test_unknown_tenant_is_one_line_error(migrated: Invoke) -> None:
    result = migrated("scim-tokens", "create", "--tenant", "nope", "--name", "x")
    assert result.exit_code == 1
    assert "nope" in result.output


def test_purge_expired_runs_over_every_tenant(migrated: Invoke) -> None:
    assert migrated("tenants", "create", "acme", "--name", "Acme").exit_code == 0
    result = migrated("provisioning", "purge-expired")
    assert result.exit_code == 0, result.output
    assert "Erased 0 user(s)" in result.output
