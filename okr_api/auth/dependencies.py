"""Authentication and role checks as dependencies.

``CurrentPrincipal`` resolves the signed-in user on every request (so deactivation, ended
sessions and role changes take effect on the next request) and binds the DB session to the
user's tenant. Role aliases read as the rule they enforce.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select

from okr_api.auth.principal import Principal
from okr_api.database import SessionDep
from okr_core.errors import NotAuthenticated, PermissionDenied
from okr_core.models import Tenant, TenantStatus, User
from okr_core.roles import Role
from okr_core.tenancy import bind_tenant
from okr_core.users import effective_role

SESSION_USER = "uid"
SESSION_TENANT = "tid"
SESSION_EPOCH = "epoch"


def current_principal(request: Request, session: SessionDep) -> Principal:
    """The signed-in user, or 401 with a message that says what to do."""
    data = request.session
    try:
        user_id = uuid.UUID(str(data[SESSION_USER]))
        tenant_id = uuid.UUID(str(data[SESSION_TENANT]))
        epoch = int(data[SESSION_EPOCH])
    except (KeyError, ValueError):
        raise NotAuthenticated("sign in first") from None
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or tenant.status is not TenantStatus.active:
        data.clear()
        raise NotAuthenticated("your organisation is not active; sign in again")
    bind_tenant(session, tenant_id)
    user = session.scalars(select(User).where(User.id == user_id)).one_or_none()
    if user is None or not user.is_active or user.session_epoch != epoch:
        data.clear()
        raise NotAuthenticated("your session has ended; sign in again")
    role = effective_role(session, user)
    if role is None:
        raise PermissionDenied("your account has no role in this organisation")
    return Principal(
        user_id=user.id,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
        email=user.email,
        display_name=user.display_name,
        role=role,
    )


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(minimum: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through principals holding ``minimum`` or a higher role."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(minimum):
            raise PermissionDenied(f"this needs the {minimum.value} role or higher")
        return principal

    check.__name__ = f"require_{minimum.value}"
    return check


Viewer = Annotated[Principal, Depends(require_role(Role.viewer))]
Editor = Annotated[Principal, Depends(require_role(Role.okr_editor))]
TenantAdmin = Annotated[Principal, Depends(require_role(Role.tenant_admin))]
