"""Scheduling reads across tenants for the Dagster sensors, and nothing more.

The sync-due and webhook sensors must see every tenant's integrations at once, while row-level
security hides each tenant's rows from the application role. Two SECURITY DEFINER functions
answer exactly the scheduling questions, returning ids only (never names, URLs or secrets):

- ``okr_claim_due_integrations(now, sources, max_count)``: integrations of active tenants that
  are not paused and whose ``next_sync_at`` has passed (oldest first), claimed atomically by
  moving ``next_sync_at`` one interval on (``FOR UPDATE SKIP LOCKED``: two sensors never claim
  the same integration);
- ``okr_queued_webhook_events(after_id, stale_before, max_count)``: unprocessed webhook events
  after the sensor's cursor, plus older unprocessed ones (an event whose transaction committed
  after a later id was read), of integrations that are not paused.

Everything else a sync does runs under the tenant's own context.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from okr_core.db import rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CLAIM = "okr_claim_due_integrations(timestamptz, text[], integer)"
QUEUED = "okr_queued_webhook_events(integer, timestamptz, integer)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION okr_claim_due_integrations(
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
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION okr_queued_webhook_events(
          after_id integer, stale_before timestamptz, max_count integer
        )
        RETURNS TABLE (event_id integer, tenant_id uuid, integration_id uuid, source varchar)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
          SELECT e.id, e.tenant_id, e.integration_id, i.source
          FROM webhook_events e
          JOIN integrations i ON i.id = e.integration_id AND NOT i.is_paused
          WHERE e.processed_at IS NULL
            AND (e.id > after_id OR e.received_at < stale_before)
          ORDER BY e.id
          LIMIT max_count
        $$;
        """
    )
    for signature in (CLAIM, QUEUED):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{rls.app_role()}"')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS {QUEUED}")
    op.execute(f"DROP FUNCTION IF EXISTS {CLAIM}")
