"""SCIM bearer tokens: one per identity-provider connection, stored as a digest only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, UtcDateTime, utcnow


class ScimToken(IdMixin, TenantOwned, Base):
    """A credential that can do SCIM for its tenant and nothing else.

    ``digest`` is an HMAC-SHA256 of the token; the token itself is shown once and never stored.
    The table name and the ``id``/``tenant_id``/``digest`` columns are what the credential
    lookup function of migration 0002 expects.
    """

    __tablename__ = "scim_tokens"

    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(128), unique=True)
    # The first characters of the token, enough for a person to tell tokens apart.
    hint: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
