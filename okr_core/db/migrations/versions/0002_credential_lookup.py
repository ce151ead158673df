"""Credential lookup across tenants, for exactly one question: which tenant owns this digest?

API keys and SCIM tokens arrive before the caller's tenant is known, but their tables are
tenant-owned and hidden by row-level security. This SECURITY DEFINER function, owned by the
schema owner, answers only "tenant id and row id for this digest" for a fixed list of tables;
everything else about the credential is then read normally under the resolved tenant's RLS.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from okr_core.db import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION okr_tenant_for_credential(tbl text, credential_digest text)
        RETURNS TABLE (tenant_id uuid, credential_id uuid)
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
        BEGIN
          IF tbl NOT IN ('api_keys', 'scim_tokens') THEN
            RAISE EXCEPTION 'okr_tenant_for_credential: % is not a credential table', tbl;
          END IF;
          RETURN QUERY EXECUTE format(
            'SELECT tenant_id, id FROM %I WHERE digest = $1', tbl
          ) USING credential_digest;
        END $$;
        """
    )
    op.execute("REVOKE ALL ON FUNCTION okr_tenant_for_credential(text, text) FROM PUBLIC")
    op.execute(
        f'GRANT EXECUTE ON FUNCTION okr_tenant_for_credential(text, text) TO "{rls.app_role()}"'
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS okr_tenant_for_credential(text, text)")
