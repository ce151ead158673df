"""The admin UI's Provisioning page (tenant admins): SCIM for Okta and Entra ID.

One page: the SCIM base URL with a copy button; SCIM tokens (a new token is shown once, in
the answer to the form that created it) with a confirmed revoke; a "test connection" that
calls this service's /scim/v2 with a token exactly as an identity provider would; the
group-to-role mapping; the deprovisioning policy; the latest provisioning events and the
admin notifications they raised. Plain HTML forms with the session's CSRF token, through the
same core services as ``/api/v1/provisioning``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okr_api.admin.auth import AdminPageRoute, PageTenantAdmin, track_unit_of_work
from okr_api.admin.rendering import render_page
from okr_api.admin.service import parse_id
from okr_api.auth.csrf import csrf_protect
from okr_api.database import SessionDep, SettingsDep
from okr_api.scim.auth import token_cache
from okr_core import (
    audit_search,
    deprovisioning,
    notifications,
    provisioning,
    role_mappings,
    scim_tokens,
)
from okr_core.audit_search import AuditFilter
from okr_core.errors import Conflict, ValidationFailed
from okr_core.models import DeletionMode, Group
from okr_core.roles import TENANT_ROLES, Role

router = APIRouter(
    route_class=AdminPageRoute,
    dependencies=[Depends(track_unit_of_work), Depends(csrf_protect)],
)

EVENT_LABELS = {
    "scim.user.created": "User created",
    "scim.user.updated": "User updated",
    "scim.user.restored": "User restored",
    "user.deactivated": "User deactivated",
    "user.reactivated": "User reactivated",
    "user.deleted": "User deleted",
    "user.erased": "User erased",
    "scim.group.created": "Group created",
    "scim.group.updated": "Group updated",
    "scim.group.members_changed": "Members changed",
    "scim.group.deleted": "Group deleted",
}


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: uuid.UUID
    name: str
    hint: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class MappingRow:
    id: uuid.UUID
    group: str
    by_id: bool
    group_exists: bool
    role: Role


@dataclass(frozen=True, slots=True)
class EventRow:
    at: datetime
    token: str
    action: str
    label: str
    target_type: str
    target: str
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewToken:
    name: str
    token: str


def _tokens(session: Session) -> list[TokenRow]:
    return [
        TokenRow(
            id=t.id,
            name=t.name,
            hint=t.hint,
            created_at=t.created_at,
            created_by=t.created_by,
            last_used_at=t.last_used_at,
            revoked=t.revoked_at is not None,
        )
        for t in scim_tokens.list_tokens(session)
    ]


def _mappings(session: Session, groups: list[Group]) -> list[MappingRow]:
    by_id = {g.id: g.display_name for g in groups}
    names = {g.display_name.lower() for g in groups}
    rows = []
    for m in role_mappings.list_mappings(session):
        if m.group_id is not None:
            label = by_id.get(m.group_id, str(m.group_id))
            exists = m.group_id in by_id
        else:
            label = m.group_display_name or ""
            exists = (m.group_display_key or "") in names
        rows.append(MappingRow(m.id, label, m.group_id is not None, exists, m.role))
    return rows


def _events(session: Session, limit: int = 15) -> list[EventRow]:
    events, _ = audit_search.search(session, AuditFilter(actor_type="scim_token"), limit=limit)
    labels = audit_search.target_labels(session, events)
    return [
        EventRow(
            at=e.occurred_at,
            token=e.actor_label,
            action=e.action,
            label=EVENT_LABELS.get(e.action, e.action),
            target_type=e.target_type,
            target=labels.get(e.target_id or "", (e.target_id or "")[:8]),
            changed=tuple(sorted(e.changes)),
        )
        for e in events
    ]


def _page(
    request: Request,
    session: Session,
    *,
    new_token: NewToken | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    groups = list(session.scalars(select(Group).order_by(func.lower(Group.display_name))).all())
    mapped = role_mappings.groups_mapped_to(session)
    principal = request.state.principal
    context: dict[str, Any] = {
        "scim_base_url": str(request.base_url).rstrip("/") + "/scim/v2",
        "tokens": _tokens(session),
        "new_token": new_token,
        "groups": [(g, mapped.get(g.id)) for g in groups],
        "mappings": _mappings(session, groups),
        "roles": TENANT_ROLES,
        "settings": provisioning.get_settings(session),
        "events": _events(session),
        "notifications": notifications.visible_to(session, role=principal.role, limit=5),
        "open_flags": len(deprovisioning.open_flags(session)),
        "error": error,
        "notice": notice,
    }
    return render_page(
        request, "provisioning.html", active="provisioning", status_code=status_code, **context
    )


def _back(request: Request, notice: str) -> RedirectResponse:
    url = request.url_for("admin_provisioning").include_query_params(notice=notice)
    return RedirectResponse(str(url), status_code=303)


@router.get("", response_class=HTMLResponse, name="admin_provisioning")
def provisioning_page(
    request: Request, session: SessionDep, _principal: PageTenantAdmin, notice: str | None = None
) -> HTMLResponse:
    return _page(request, session, notice=notice)


@router.post("/tokens", response_class=HTMLResponse, name="admin_scim_token_create")
def create_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PageTenantAdmin,
    name: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    try:
        row, token = scim_tokens.create_token(
            session,
            actor=principal.actor,
            name=name,
            secret=settings.secret_key.get_secret_value(),
        )
    except ValidationFailed as exc:
        return _page(request, session, error=exc.message, status_code=422)
    session.flush()
    return _page(request, session, new_token=NewToken(row.name, token), status_code=201)


@router.post("/tokens/{token_id}/revoke", name="admin_scim_token_revoke")
def revoke_token(
    request: Request, session: SessionDep, principal: PageTenantAdmin, token_id: str
) -> RedirectResponse:
    row = scim_tokens.revoke_token(
        session, actor=principal.actor, token_id=parse_id(token_id, noun="SCIM token")
    )
    token_cache(request.app).forget(row.id)
    return _back(request, f"Revoked “{row.name}”. Provisioning with it now fails.")


@router.post("/mappings", response_class=HTMLResponse, name="admin_role_mapping_create")
def create_mapping(
    request: Request,
    session: SessionDep,
    principal: PageTenantAdmin,
    group: Annotated[str, Form(max_length=300)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        chosen = Role(role)
        group_id: uuid.UUID | None = None
        name: str | None = None
        if group.startswith("id:"):
            group_id = uuid.UUID(group[3:])
        else:
            name = group.removeprefix("name:")
        role_mappings.create_mapping(
            session, actor=principal.actor, role=chosen, group_display_name=name, group_id=group_id
        )
    except ValueError:
        return _page(request, session, error="Choose a group and a role.", status_code=422)
    except (ValidationFailed, Conflict) as exc:
        return _page(request, session, error=exc.message, status_code=exc.status)
    return _back(request, "Mapping saved. It applies from each member's next request.")


@router.post("/mappings/{mapping_id}", name="admin_role_mapping_update")
def update_mapping(
    request: Request,
    session: SessionDep,
    principal: PageTenantAdmin,
    mapping_id: str,
    role: Annotated[str, Form(max_length=32)] = "",
) -> RedirectResponse:
    try:
        chosen = Role(role)
    except ValueError:
        raise ValidationFailed("choose a role") from None
    role_mappings.update_mapping(
        session,
        actor=principal.actor,
        mapping_id=parse_id(mapping_id, noun="role mapping"),
        role=chosen,
    )
    return _back(request, "Mapping saved. It applies from each member's next request.")


@router.post("/mappings/{mapping_id}/delete", name="admin_role_mapping_delete")
def delete_mapping(
    request: Request, session: SessionDep, principal: PageTenantAdmin, mapping_id: str
) -> RedirectResponse:
    role_mappings.delete_mapping(
        session, actor=principal.actor, mapping_id=parse_id(mapping_id, noun="role mapping")
    )
    return _back(request, "Mapping removed.")


@router.post("/policy", response_class=HTMLResponse, name="admin_provisioning_policy")
def update_policy(
    request: Request,
    session: SessionDep,
    principal: PageTenantAdmin,
    default_role: Annotated[str, Form(max_length=32)] = "",
    deletion_mode: Annotated[str, Form(max_length=16)] = "soft",
    retention_days: Annotated[str, Form(max_length=5)] = "30",
) -> Response:
    try:
        role = Role(default_role) if default_role else None
        mode = DeletionMode(deletion_mode)
        days = int(retention_days)
        provisioning.update_settings(
            session,
            actor=principal.actor,
            default_role=role,
            deletion_mode=mode,
            retention_days=days,
        )
    except ValueError:
        return _page(request, session, error="Check the policy's values.", status_code=422)
    except ValidationFailed as exc:
        return _page(request, session, error=exc.message, status_code=422)
    return _back(request, "Policy saved.")
