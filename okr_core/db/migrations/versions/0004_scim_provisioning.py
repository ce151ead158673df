"""SCIM tokens, identity links, group-to-role mappings, deprovisioning policy and notifications (issue 5).

Every new table is tenant-owned: row-level security and app-role grants on PostgreSQL.
``groups.version`` is the weak ETag of a SCIM group, bumped by membership changes without
rewriting the group's members.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from okr_core.db import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLE = sa.Enum(
    "viewer", "okr_editor", "tenant_admin", "platform_operator",
    name="role", native_enum=False, length=32,
)
TENANT_TABLES = (
    "scim_tokens",
    "identity_links",
    "user_emails",
    "group_role_mappings",
    "provisioning_settings",
    "notifications",
    "ownership_flags",
)


def _tenant_columns(table: str) -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
    ]


def _tenant_constraints(table: str) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    op.create_table(
        "scim_tokens",
        *_tenant_columns("scim_tokens"),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("hint", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant_constraints("scim_tokens"),
        sa.UniqueConstraint("digest", name="uq_scim_tokens_digest"),
    )
    op.create_index("ix_scim_tokens_tenant_id", "scim_tokens", ["tenant_id"])

    op.create_table(
        "identity_links",
        *_tenant_columns("identity_links"),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("user_name", sa.String(320), nullable=False),
        sa.Column("user_name_key", sa.String(320), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("given_name", sa.String(200), nullable=True),
        sa.Column("family_name", sa.String(200), nullable=True),
        sa.Column("employee_number", sa.String(100), nullable=True),
        sa.Column("department", sa.String(200), nullable=True),
        sa.Column("manager_id", sa.String(255), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True),
        *_tenant_constraints("identity_links"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_identity_links_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "tenant_id", "provider", "user_id", name="uq_identity_links_tenant_id_provider_user_id"
        ),
        sa.UniqueConstraint(
            "tenant_id", "provider", "user_name_key",
            name="uq_identity_links_tenant_id_provider_user_name_key",
        ),
    )
    op.create_index("ix_identity_links_tenant_id", "identity_links", ["tenant_id"])
    op.create_index("ix_identity_links_user_id", "identity_links", ["user_id"])
    op.create_index(
        "ix_identity_links_external", "identity_links", ["tenant_id", "provider", "external_id"]
    )

    op.create_table(
        "user_emails",
        *_tenant_columns("user_emails"),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("value_key", sa.String(320), nullable=False),
        sa.Column("type", sa.String(64), nullable=True),
        sa.Column("primary", sa.Boolean(), nullable=False),
        *_tenant_constraints("user_emails"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_emails_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_user_emails_tenant_id", "user_emails", ["tenant_id"])
    op.create_index("ix_user_emails_user_id", "user_emails", ["user_id"])
    op.create_index("ix_user_emails_tenant_value", "user_emails", ["tenant_id", "value_key"])

    op.create_table(
        "group_role_mappings",
        *_tenant_columns("group_role_mappings"),
        sa.Column("group_display_name", sa.String(255), nullable=True),
        sa.Column("group_display_key", sa.String(255), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("role", ROLE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant_constraints("group_role_mappings"),
        sa.UniqueConstraint(
            "tenant_id", "group_display_key", name="uq_group_role_mappings_tenant_id_group_display_key"
        ),
        sa.UniqueConstraint(
            "tenant_id", "group_id", name="uq_group_role_mappings_tenant_id_group_id"
        ),
    )
    op.create_index("ix_group_role_mappings_tenant_id", "group_role_mappings", ["tenant_id"])

    op.create_table(
        "provisioning_settings",
        *_tenant_columns("provisioning_settings"),
        sa.Column("default_role", ROLE, nullable=True),
        sa.Column(
            "deletion_mode",
            sa.Enum("soft", "hard", name="deletionmode", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant_constraints("provisioning_settings"),
        sa.UniqueConstraint("tenant_id", name="uq_provisioning_settings_tenant_id"),
    )
    op.create_index("ix_provisioning_settings_tenant_id", "provisioning_settings", ["tenant_id"])

    op.create_table(
        "notifications",
        *_tenant_columns("notifications"),
        sa.Column("audience", ROLE, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("subject_type", sa.String(64), nullable=True),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant_constraints("notifications"),
    )
    op.create_index("ix_notifications_tenant_id", "notifications", ["tenant_id"])
    op.create_index("ix_notifications_kind", "notifications", ["kind"])
    op.create_index("ix_notifications_subject_id", "notifications", ["subject_id"])
    op.create_index("ix_notifications_tenant_created", "notifications", ["tenant_id", "created_at"])

    op.create_table(
        "ownership_flags",
        *_tenant_columns("ownership_flags"),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("former_owner_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant_constraints("ownership_flags"),
    )
    op.create_index("ix_ownership_flags_tenant_id", "ownership_flags", ["tenant_id"])
    op.create_index(
        "ix_ownership_flags_object", "ownership_flags", ["tenant_id", "object_type", "object_id"]
    )

    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default="1")
        )

    for table in TENANT_TABLES:
        rls.grant_app_access(table)
        rls.isolate_tenant_table(table)

    if op.get_bind().dialect.name == "postgresql":
        # An identity provider's first sync loads thousands of users within a minute. Until the
        # tables are analyzed the planner takes them for tiny and picks the tenant_id index
        # over the unique (tenant, userName) / (tenant, email) ones, so every look-up scans
        # the tenant's users. Analyze these tables after a few hundred changes, not 10 %.
        for table in ("identity_links", "user_emails", "users", "group_memberships"):
            op.execute(
                f"ALTER TABLE {table} SET (autovacuum_analyze_threshold = 200, "
                "autovacuum_analyze_scale_factor = 0.02)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("users", "group_memberships"):
            op.execute(
                f"ALTER TABLE {table} RESET (autovacuum_analyze_threshold, "
                "autovacuum_analyze_scale_factor)"
            )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("version")
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
