"""Provisioning management for tenant admins under /api/v1/provisioning.

SCIM tokens (shown once), the group-to-role mapping, the deprovisioning policy, the latest
provisioning events and admin notifications. The admin UI's Provisioning page uses these.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func, select

from okr_api.auth.csrf import csrf_protect
from okr_api.auth.dependencies import TenantAdmin, require_role
from okr_api.database import SessionDep, SettingsDep
from okr_api.provisioning.schemas import (
    GroupRead,
    NotificationRead,
    ProvisioningEventRead,
    ProvisioningOverview,
    RoleMappingCreate,
    RoleMappingRead,
    RoleMappingUpdate,
    ScimTokenCreate,
    ScimTokenCreated,
    ScimTokenRead,
    SettingsRead,
    SettingsUpdate,
)
from okr_api.scim.auth import token_cache
from okr_core import audit_search, deprovisioning, notifications, provisioning, role_mappings
from okr_core import scim_tokens as tokens
from okr_core.audit_search import AuditFilter
from okr_core.models import Group, GroupRoleMapping, ProvisioningSettings, ScimToken
from okr_core.roles import Role

router = APIRouter(
    prefix="/api/v1/provisioning",
    tags=["provisioning"],
    dependencies=[Depends(require_role(Role.tenant_admin)), Depends(csrf_protect)],
)


def scim_base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/scim/v2"


def token_read(row: ScimToken) -> ScimTokenRead:
    return ScimTokenRead(
        id=row.id,
        name=row.name,
        hint=row.hint,
        created_at=row.created_at,
        created_by=row.created_by,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def settings_read(row: ProvisioningSettings) -> SettingsRead:
    return SettingsRead(
        default_role=row.default_role,
        deletion_mode=row.deletion_mode,
        retention_days=row.retention_days,
    )


def mapping_reads(session: SessionDep, rows: list[GroupRoleMapping]) -> list[RoleMappingRead]:
    groups = session.execute(select(Group.id, func.lower(Group.display_name))).all()
    ids = {gid for gid, _ in groups}
    names = {name for _, name in groups}
    return [
        RoleMappingRead(
            id=m.id,
            group_display_name=m.group_display_name,
            group_id=m.group_id,
            group_exists=(m.group_id in ids) if m.group_id else (m.group_display_key in names),
            role=m.role,
        )
        for m in rows
    ]


@router.get("", operation_id="provisioning_overview", response_model=ProvisioningOverview)
def overview(request: Request, session: SessionDep, principal: TenantAdmin) -> ProvisioningOverview:
    mapped = role_mappings.groups_mapped_to(session)
    groups = session.scalars(select(Group).order_by(func.lower(Group.display_name))).all()
    return ProvisioningOverview(
        scim_base_url=scim_base_url(request),
        settings=settings_read(provisioning.get_settings(session)),
        tokens=[token_read(t) for t in tokens.list_tokens(session)],
        role_mappings=mapping_reads(session, list(role_mappings.list_mappings(session))),
        groups=[
            GroupRead(id=g.id, display_name=g.display_name, mapped_role=mapped.get(g.id))
            for g in groups
        ],
        open_reassignments=len(deprovisioning.open_flags(session)),
    )


@router.post(
    "/scim-tokens",
    operation_id="scim_token_create",
    status_code=201,
    response_model=ScimTokenCreated,
)
def create_token(
    body: ScimTokenCreate, session: SessionDep, settings: SettingsDep, principal: TenantAdmin
) -> ScimTokenCreated:
    row, token = tokens.create_token(
        session,
        actor=principal.actor,
        name=body.name,
        secret=settings.secret_key.get_secret_value(),
    )
    return ScimTokenCreated(**token_read(row).model_dump(), token=token)


@router.delete("/scim-tokens/{token_id}", operation_id="scim_token_revoke", status_code=204)
def revoke_token(
    token_id: uuid.UUID, request: Request, session: SessionDep, principal: TenantAdmin
) -> Response:
    tokens.revoke_token(session, actor=principal.actor, token_id=token_id)
    token_cache(request.app).forget(token_id)  # other processes: within TOKEN_CACHE_SECONDS
    return Response(status_code=204)


@router.put("/settings", operation_id="provisioning_settings_update", response_model=SettingsRead)
def update_settings(
    body: SettingsUpdate, session: SessionDep, principal: TenantAdmin
) -> SettingsRead:
    changes = body.model_dump(exclude_unset=True)
    row = provisioning.update_settings(
        session,
        actor=principal.actor,
        **({"default_role": changes["default_role"]} if "default_role" in changes else {}),
        deletion_mode=changes.get("deletion_mode"),
        retention_days=changes.get("retention_days"),
    )
    return settings_read(row)


@router.post(
    "/role-mappings",
    operation_id="role_mapping_create",
    status_code=201,
    response_model=RoleMappingRead,
)
def create_mapping(
    body: RoleMappingCreate, session: SessionDep, principal: TenantAdmin
) -> RoleMappingRead:
    mapping = role_mappings.create_mapping(
        session,
        actor=principal.actor,
        role=body.role,
        group_display_name=body.group_display_name,
        group_id=body.group_id,
    )
    return mapping_reads(session, [mapping])[0]


@router.patch(
    "/role-mappings/{mapping_id}",
    operation_id="role_mapping_update",
    response_model=RoleMappingRead,
)
def update_mapping(
    mapping_id: uuid.UUID, body: RoleMappingUpdate, session: SessionDep, principal: TenantAdmin
) -> RoleMappingRead:
    mapping = role_mappings.update_mapping(
        session, actor=principal.actor, mapping_id=mapping_id, role=body.role
    )
    return mapping_reads(session, [mapping])[0]


@router.delete("/role-mappings/{mapping_id}", operation_id="role_mapping_delete", status_code=204)
def delete_mapping(mapping_id: uuid.UUID, session: SessionDep, principal: TenantAdmin) -> Response:
    role_mappings.delete_mapping(session, actor=principal.actor, mapping_id=mapping_id)
    return Response(status_code=204)


def latest_events(session: SessionDep, limit: int) -> list[ProvisioningEventRead]:
    events, _ = audit_search.search(session, AuditFilter(actor_type="scim_token"), limit=limit)
    labels = audit_search.target_labels(session, events)
    return [
        ProvisioningEventRead(
            id=e.id,
            occurred_at=e.occurred_at,
            actor_label=e.actor_label,
            action=e.action,
            target_type=e.target_type,
            target_id=e.target_id,
            target_label=labels.get(e.target_id or ""),
            changes=e.changes,
        )
        for e in events
    ]


@router.get(
    "/events", operation_id="provisioning_events_list", response_model=list[ProvisioningEventRead]
)
def events(
    session: SessionDep,
    principal: TenantAdmin,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[ProvisioningEventRead]:
    """The latest events caused by SCIM tokens, newest first."""
    return latest_events(session, limit)


@router.get(
    "/notifications", operation_id="admin_notifications_list", response_model=list[NotificationRead]
)
def list_notifications(
    session: SessionDep,
    principal: TenantAdmin,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[NotificationRead]:
    rows = notifications.visible_to(
        session, role=principal.role, limit=limit, unread_only=unread_only
    )
    return [
        NotificationRead(
            id=n.id,
            kind=n.kind,
            title=n.title,
            body=n.body,
            created_at=n.created_at,
            read_at=n.read_at,
        )
        for n in rows
    ]


@router.post(
    "/notifications/{notification_id}/read", operation_id="admin_notification_read", status_code=204
)
def read_notification(
    notification_id: uuid.UUID, session: SessionDep, principal: TenantAdmin
) -> Response:
    notifications.mark_read(session, notification_id=notification_id)
    return Response(status_code=204)
