"""Identity links: how an identity provider knows one of our users.

One row per (tenant, provider, user). For SCIM the row also holds the provisioned
representation exactly as the provider sent it (``attributes``), plus the handful of values
that filters and uniqueness need as real columns. Sign-in through SSO will link by
``(provider, subject)`` in the same table.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow

SCIM_PROVIDER = "scim"


class IdentityLink(IdMixin, TenantOwned, Base):
    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider", "user_id"),
        UniqueConstraint("tenant_id", "provider", "user_name_key"),
        # Partial: only rows with an externalId, so a look-up by userName can never pick it
        # (with no statistics yet, a generic plan once did, and scanned the tenant's links).
        Index(
            "ix_identity_links_external",
            "tenant_id",
            "provider",
            "external_id",
            postgresql_where=text("external_id IS NOT NULL"),
            sqlite_where=text("external_id IS NOT NULL"),
        ),
    )
    tenant_id_indexed = False  # the unique (tenant_id, provider, ...) indexes serve

    provider: Mapped[str] = mapped_column(String(64), default=SCIM_PROVIDER)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # SCIM userName as sent, and folded to lower case for caseExact=false comparisons.
    user_name: Mapped[str] = mapped_column(String(320))
    user_name_key: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    given_name: Mapped[str | None] = mapped_column(String(200), default=None)
    family_name: Mapped[str | None] = mapped_column(String(200), default=None)
    employee_number: Mapped[str | None] = mapped_column(String(100), default=None)
    department: Mapped[str | None] = mapped_column(String(200), default=None)
    manager_id: Mapped[str | None] = mapped_column(String(255), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Weak ETag of the SCIM representation; bumped on every change, membership included.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Soft deletion: hidden from SCIM at once, personal data purged after the retention period.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    purge_after: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class UserEmail(IdMixin, TenantOwned, Base):
    """One e-mail address of a provisioned user (SCIM ``emails`` is multi-valued)."""

    __tablename__ = "user_emails"
    __table_args__ = (Index("ix_user_emails_tenant_value", "tenant_id", "value_key"),)
    tenant_id_indexed = False  # ix_user_emails_tenant_value serves

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[str] = mapped_column(String(320))
    value_key: Mapped[str] = mapped_column(String(320))
    type: Mapped[str | None] = mapped_column(String(64), default=None)
    primary: Mapped[bool] = mapped_column(Boolean, default=False)
