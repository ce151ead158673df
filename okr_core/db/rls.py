"""Migration helpers for PostgreSQL tenant isolation (row-level security and the app role).

Every migration that adds a tenant-owned table calls :func:`isolate_tenant_table` for it; every
helper is a no-op on other dialects, where the ORM-level scoping in ``okr_core.tenancy`` applies.
"""

from __future__ import annotations

from alembic import op

from okr_core.tenancy import TENANT_SETTING

POLICY = "tenant_isolation"


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def app_role() -> str:
    config = op.get_context().config
    return str(config.attributes.get("app_role", "okr_app")) if config else "okr_app"


def ensure_app_role() -> None:
    """Create the application's login role (no superuser, no RLS bypass) if the cluster lacks it.

    Its password, if the server asks for one, is set by the operator (``ALTER ROLE ... PASSWORD``)
    and given to the services as ``OKR_DATABASE_APP_PASSWORD``; migrations never hold it.
    """
    if not _is_postgresql():
        return
    role = app_role()
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$;
        """
    )
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')


def grant_app_access(table: str, *, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    if not _is_postgresql():
        return
    op.execute(f'GRANT {privileges} ON TABLE {table} TO "{app_role()}"')


def isolate_tenant_table(table: str) -> None:
    """Enable and force row-level security keyed on the per-transaction tenant setting."""
    if not _is_postgresql():
        return
    expr = f"tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {POLICY} ON {table} USING ({expr}) WITH CHECK ({expr})")


def make_append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` in the database itself, on every dialect.

    On PostgreSQL the owner may purge (tenant deletion, retention) by setting ``okr.audit_purge``
    to ``on`` in its transaction; the application role has no DELETE privilege at all.
    """
    if _is_postgresql():
        op.execute(
            """
            CREATE OR REPLACE FUNCTION okr_refuse_change() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' AND current_setting('okr.audit_purge', true) = 'on' THEN
                RETURN OLD;
              END IF;
              RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$ LANGUAGE plpgsql;
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION okr_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
