"""Integrations, KR bindings, sync runs and webhook events (issue 3), with tenant isolation,
and a lookup of an integration's tenant for signature-verified webhooks.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from okr_core.db import rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TENANT_TABLES = ("integrations", "kr_bindings", "sync_runs", "webhook_events")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("auth_kind", sa.String(32), nullable=False),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("credentials_ciphertext", sa.Text(), nullable=False),
        sa.Column("webhook_secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("sync_interval_minutes", sa.Integer(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_class", sa.String(32), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
        _tenant_fk("integrations"),
        sa.UniqueConstraint(
            "tenant_id", "source", "name", name="uq_integrations_tenant_id_source_name"
        ),
    )
    op.create_index("ix_integrations_tenant_id", "integrations", ["tenant_id"])
    op.create_index("ix_integrations_next_sync_at", "integrations", ["next_sync_at"])

    op.create_table(
        "kr_bindings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key_result_id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(48), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("whole_history", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kr_bindings"),
        _tenant_fk("kr_bindings"),
        sa.ForeignKeyConstraint(
            ["key_result_id"],
            ["key_results.id"],
            name="fk_kr_bindings_key_result_id_key_results",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_kr_bindings_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("key_result_id", name="uq_kr_bindings_key_result_id"),
    )
    op.create_index("ix_kr_bindings_tenant_id", "kr_bindings", ["tenant_id"])
    op.create_index("ix_kr_bindings_integration_id", "kr_bindings", ["integration_id"])

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("records_read", sa.Integer(), nullable=False),
        sa.Column("records_written", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.String(16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("dagster_run_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        _tenant_fk("sync_runs"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_sync_runs_integration_id_integrations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_sync_runs_tenant_id", "sync_runs", ["tenant_id"])
    op.create_index(
        "ix_sync_runs_integration_started", "sync_runs", ["integration_id", "started_at"]
    )

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        _tenant_fk("webhook_events"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_webhook_events_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "integration_id", "delivery_id", name="uq_webhook_events_integration_id_delivery_id"
        ),
    )
    op.create_index("ix_webhook_events_tenant_id", "webhook_events", ["tenant_id"])
    op.create_index("ix_webhook_events_integration_id", "webhook_events", ["integration_id"])

    for table in TENANT_TABLES:
        rls.grant_app_access(table)
        rls.isolate_tenant_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'GRANT USAGE, SELECT ON SEQUENCE webhook_events_id_seq TO "{rls.app_role()}"')
        op.execute(
            """
            CREATE OR REPLACE FUNCTION okr_tenant_for_integration(integration uuid)
            RETURNS uuid
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
              SELECT tenant_id FROM integrations WHERE id = integration
            $$;
            """
        )
        op.execute("REVOKE ALL ON FUNCTION okr_tenant_for_integration(uuid) FROM PUBLIC")
        op.execute(
            "GRANT EXECUTE ON FUNCTION okr_tenant_for_integration(uuid) "
            f'TO "{rls.app_role()}"'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS okr_tenant_for_integration(uuid)")
    for table in ("webhook_events", "sync_runs", "kr_bindings", "integrations"):
        op.drop_table(table)
