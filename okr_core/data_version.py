"""A cheap fingerprint of a tenant's OKR data, which changes whenever that data changes.

The public API derives ETags from it, so a poller's ``If-None-Match`` can be answered without
reading a page. One indexed round trip: row counts (deletions), the latest ``updated_at`` of
objectives and key results, the latest check-in, and the latest audit event (every service
change to OKR data writes one, including check-in edits that touch no timestamp).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okr_core.models import AuditEvent, CheckIn, KeyResult, Objective
from okr_core.tenancy import require_tenant


def tenant_data_version(session: Session) -> str:
    """An opaque token; equal tokens mean the tenant's OKR data has not changed."""
    tenant_id = require_tenant(session)

    def scalar(expr: Any, model: Any) -> Any:
        # An explicit tenant filter as well as the session's scoping: scalar subqueries of one
        # statement must each be bound to the tenant (and it lets PostgreSQL use the index).
        return select(expr).select_from(model).where(model.tenant_id == tenant_id).scalar_subquery()

    row = session.execute(
        select(
            scalar(func.count(), Objective),
            scalar(func.max(Objective.updated_at), Objective),
            scalar(func.count(), KeyResult),
            scalar(func.max(KeyResult.updated_at), KeyResult),
            scalar(func.count(), CheckIn),
            scalar(func.max(CheckIn.created_at), CheckIn),
            scalar(func.max(CheckIn.archived_at), CheckIn),
            scalar(func.max(AuditEvent.occurred_at), AuditEvent),
        )
    ).one()
    text = "|".join("" if value is None else str(value) for value in row)
    return hashlib.sha256(text.encode()).hexdigest()[:24]
