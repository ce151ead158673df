"""Tenant lifecycle. Tenants are platform rows, not tenant-owned ones."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.errors import Conflict, NotFound, ValidationFailed
from okr_core.models import Tenant, TenantStatus

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def create_tenant(session: Session, *, slug: str, name: str) -> Tenant:
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise ValidationFailed(
            "slug must be 1-63 lowercase letters, digits or hyphens, not starting or ending "
            "with a hyphen",
            details={"field": "slug"},
        )
    if not name.strip():
        raise ValidationFailed("name must not be empty", details={"field": "name"})
    if session.scalars(select(Tenant).where(Tenant.slug == slug)).first() is not None:
        raise Conflict(f"a tenant with slug '{slug}' already exists", details={"field": "slug"})
    tenant = Tenant(slug=slug, name=name.strip(), status=TenantStatus.active)
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} was not found")
    return tenant


def get_tenant_by_slug(session: Session, slug: str) -> Tenant:
    tenant = session.scalars(select(Tenant).where(Tenant.slug == slug.strip().lower())).first()
    if tenant is None:
        raise NotFound(f"tenant '{slug}' was not found")
    return tenant


def active_tenant_ids(session: Session) -> Sequence[uuid.UUID]:
    """Ids of tenants whose integrations should run, in a stable order."""
    stmt = select(Tenant.id).where(Tenant.status == TenantStatus.active).order_by(Tenant.id)
    return session.scalars(stmt).all()


def list_tenants(session: Session) -> Sequence[Tenant]:
    return session.scalars(select(Tenant).order_by(Tenant.slug)).all()
