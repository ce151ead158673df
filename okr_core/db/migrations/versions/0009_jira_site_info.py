"""What a Jira site's ``serverInfo`` said, kept on the integration: ``integrations.site_info``.

Every Jira sync used to ask the site for its ``serverInfo`` (one request, to learn that it is
Jira Cloud and which version it runs). A site does not turn into another deployment between
two syncs, so a sync now trusts the answer it stored for up to a day, for the same base URL
(``okr_core.sources.jira.client.SITE_INFO_MAX_AGE``): one request per sync fewer against the
vendor's rate limits. The JSON holds the deployment type, the version numbers, the base URL it
was read from and when; nothing secret.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE ... ADD COLUMN on both dialects.
    op.add_column("integrations", sa.Column("site_info", sa.JSON(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("integrations", "site_info")
        return
    # SQLite 3.35+ drops a column in place. Alembic's batch mode would copy the table and drop
    # the original, and with foreign keys on, dropping it cascades into sync_runs, kr_bindings
    # and webhook_events (see 0007).
    op.execute("ALTER TABLE integrations DROP COLUMN site_info")
