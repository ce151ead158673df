"""Integrations: one connection of a tenant to an external source, and its sync state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, TimestampMixin, UtcDateTime


class Source(StrEnum):
    jira = "jira"
    github = "github"
    salesforce = "salesforce"
    snowflake = "snowflake"


class AuthKind(StrEnum):
    api_token = "api_token"  # noqa: S105 (Jira: email + API token, Basic)
    oauth_token = "oauth_token"  # noqa: S105 (Jira: OAuth 2.0 access token, Bearer)
    token = "token"  # noqa: S105 (GitHub: personal access token)
    app_installation = "app_installation"  # GitHub: App installation token


MIN_SYNC_INTERVAL_MINUTES = 5
MAX_SYNC_INTERVAL_MINUTES = 24 * 60
DEFAULT_SYNC_INTERVAL_MINUTES = 60


class Integration(IdMixin, TenantOwned, TimestampMixin, Base):
    """Credentials are only ever stored encrypted (``okr_core.secrets``) and never returned."""

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("tenant_id", "source", "name"),)

    source: Mapped[Source] = mapped_column(Enum(Source, native_enum=False, length=16))
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    auth_kind: Mapped[AuthKind] = mapped_column(Enum(AuthKind, native_enum=False, length=32))
    # Non-secret account handle: the Jira user's email, the GitHub account or organisation.
    account: Mapped[str] = mapped_column(String(320), default="")
    credentials_ciphertext: Mapped[str] = mapped_column(Text)
    webhook_secret_ciphertext: Mapped[str | None] = mapped_column(Text, default=None)
    sync_interval_minutes: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_SYNC_INTERVAL_MINUTES
    )
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)
    # "Sync now" was pressed at this instant and that sync has not started yet: the sync-due
    # sensor runs it with trigger manual, and the batched run clears it when the sync starts.
    sync_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Incremental extraction: records updated at or after this instant (minus an overlap) are
    # pulled next time. Moves only after the landing is durable.
    watermark_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_error_class: Mapped[str | None] = mapped_column(String(32), default=None)
    last_error_message: Mapped[str | None] = mapped_column(Text, default=None)
    # Jira: what the site's serverInfo said ({"deploymentType", "versionNumbers"}), the base URL
    # it was read from ("base_url", without user info) and when ("checked_at", ISO 8601 UTC).
    # A sync trusts it for a day for that base URL instead of asking again; never secret.
    site_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
