"""Recording "Sync now" as a manual sync: ``integrations.sync_requested_at``.

"Sync now" sets ``sync_requested_at`` (and makes the integration due). The sync-due sensor
claims requested integrations first and runs them with trigger ``manual``; the batched run
clears the request when that sync starts, so the next scheduled sync is ``schedule`` again.

On PostgreSQL the sensor claims through ``okr_claim_due_integrations`` (migration 0006, SECURITY
DEFINER, ids only); its result gains ``sync_requested_at``, which changes its return type, so
the function is dropped and created again (same name, same arguments, same grants).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from okr_core.db import rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CLAIM = "okr_claim_due_integrations(timestamptz, text[], integer)"

_CLAIM_0007 = """
CREATE FUNCTION okr_claim_due_integrations(
  due_at timestamptz, wanted_sources text[], max_count integer
)
RETURNS TABLE (
  integration_id uuid, tenant_id uuid, source varchar, sync_requested_at timestamptz
)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  WITH due AS (
    SELECT i.id
    FROM integrations i
    JOIN tenants t ON t.id = i.tenant_id AND t.status = 'active'
    WHERE NOT i.is_paused
      AND i.source = ANY (wanted_sources)
      AND (i.next_sync_at IS NULL OR i.next_sync_at <= due_at)
    ORDER BY i.sync_requested_at IS NULL, i.next_sync_at NULLS FIRST, i.id
    LIMIT max_count
    FOR UPDATE OF i SKIP LOCKED
  )
  UPDATE integrations AS i
  SET next_sync_at = due_at + make_interval(mins => i.sync_interval_minutes)
  FROM due
  WHERE i.id = due.id
  RETURNING i.id, i.tenant_id, i.source, i.sync_requested_at
$$;
"""

# Exactly the function of migration 0006, restored on downgrade.
_CLAIM_0006 = """
CREATE FUNCTION okr_claim_due_integrations(
  due_at timestamptz, wanted_sources text[], max_count integer
)
RETURNS TABLE (integration_id uuid, tenant_id uuid, source varchar)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  WITH due AS (
    SELECT i.id
    FROM integrations i
    JOIN tenants t ON t.id = i.tenant_id AND t.status = 'active'
    WHERE NOT i.is_paused
      AND i.source = ANY (wanted_sources)
      AND (i.next_sync_at IS NULL OR i.next_sync_at <= due_at)
    ORDER BY i.next_sync_at NULLS FIRST, i.id
    LIMIT max_count
    FOR UPDATE OF i SKIP LOCKED
  )
  UPDATE integrations AS i
  SET next_sync_at = due_at + make_interval(mins => i.sync_interval_minutes)
  FROM due
  WHERE i.id = due.id
  RETURNING i.id, i.tenant_id, i.source
$$;
"""


def _replace_claim(definition: str) -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {CLAIM}")
    op.execute(definition)
    op.execute(f"REVOKE ALL ON FUNCTION {CLAIM} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {CLAIM} TO "{rls.app_role()}"')


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE ... ADD COLUMN on both dialects.
    op.add_column(
        "integrations", sa.Column("sync_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    if op.get_bind().dialect.name == "postgresql":
        _replace_claim(_CLAIM_0007)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace_claim(_CLAIM_0006)
        op.drop_column("integrations", "sync_requested_at")
        return
    # SQLite 3.35+ drops a column in place. Alembic's batch mode would copy the table and drop
    # the original, and with foreign keys on, dropping it cascades into sync_runs, kr_bindings
    # and webhook_events.
    op.execute("ALTER TABLE integrations DROP COLUMN sync_requested_at")
