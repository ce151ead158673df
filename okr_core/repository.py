"""Tenant-scoped lookups shared by every service.

All ORM statements are already filtered to the session's tenant (``okr_core.tenancy``); these
helpers add the product's rule that a missing row and another tenant's row look the same: 404.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.db.base import Base, TenantOwned
from okr_core.errors import NotFound
from okr_core.tenancy import require_tenant

ModelT = TypeVar("ModelT", bound=Base)


def get_owned(session: Session, model: type[ModelT], row_id: uuid.UUID, *, noun: str) -> ModelT:
    """The tenant's row with ``row_id``, or NotFound (also for other tenants' rows)."""
    if issubclass(model, TenantOwned):
        require_tenant(session)
    row = session.scalars(select(model).where(model.id == row_id)).one_or_none()  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"{noun} {row_id} was not found", details={"resource": noun})
    return row
