"""API keys, rate-limit overrides and usage telemetry (issue 4).

Every table is tenant-owned, so each gets row-level security and the app role's grants. The
``api_keys.digest`` column is what migration 0002's credential lookup reads.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from okr_core.db import rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TENANT_TABLES = ("api_keys", "api_rate_limits", "api_key_usage")
LATENCY_COLUMNS = (
    *(f"ms_le_{b}" for b in (1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500, 1000, 2000, 5000)),
    "ms_gt_5000",
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.Column("display_prefix", sa.String(length=24), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_label", sa.String(length=320), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_ip", sa.String(length=45), nullable=True),
        sa.Column("rotated_from_id", sa.Uuid(), nullable=True),
        _tenant_fk("api_keys"),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name="fk_api_keys_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rotated_from_id"], ["api_keys.id"], name="fk_api_keys_rotated_from_id_api_keys",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("digest", name="uq_api_keys_digest"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])

    op.create_table(
        "api_rate_limits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("per_key", sa.String(length=64), nullable=True),
        sa.Column("per_tenant", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("api_rate_limits"),
        sa.PrimaryKeyConstraint("id", name="pk_api_rate_limits"),
        sa.UniqueConstraint("tenant_id", name="uq_api_rate_limits_tenant_id"),
    )
    op.create_index("ix_api_rate_limits_tenant_id", "api_rate_limits", ["tenant_id"])

    op.create_table(
        "api_key_usage",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("latency_ms_total", sa.Float(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in LATENCY_COLUMNS),
        _tenant_fk("api_key_usage"),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name="fk_api_key_usage_api_key_id_api_keys",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_key_usage"),
        sa.UniqueConstraint(
            "api_key_id", "day", "route", "status",
            name="uq_api_key_usage_api_key_id_day_route_status",
        ),
    )
    op.create_index("ix_api_key_usage_tenant_id", "api_key_usage", ["tenant_id"])

    for table in TENANT_TABLES:
        rls.grant_app_access(table)
        rls.isolate_tenant_table(table)


def downgrade() -> None:
    op.drop_index("ix_api_key_usage_tenant_id", table_name="api_key_usage")
    op.drop_table("api_key_usage")
    op.drop_index("ix_api_rate_limits_tenant_id", table_name="api_rate_limits")
    op.drop_table("api_rate_limits")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_table("api_keys")
