"""Group-to-role mapping: which tenant role membership of an identity-provider group grants.

Shared by SCIM provisioning and, later, SSO sign-in (groups from the token or assertion). The
highest role any of a user's groups maps to wins; users with no role at all get the tenant's
default role. Roles are computed on every request, so a change applies on the next one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import Conflict, NotFound, ValidationFailed
from okr_core.models import Group, GroupMembership, GroupRoleMapping
from okr_core.provisioning import get_settings
from okr_core.roles import TENANT_ROLES, Role, highest
from okr_core.tenancy import require_tenant


def _check_role(role: Role) -> None:
    if role not in TENANT_ROLES:
        raise ValidationFailed(
            "a group can map to viewer, okr_editor or tenant_admin", details={"field": "role"}
        )


def list_mappings(session: Session) -> Sequence[GroupRoleMapping]:
    require_tenant(session)
    stmt = select(GroupRoleMapping).order_by(
        GroupRoleMapping.group_display_key, GroupRoleMapping.created_at
    )
    return session.scalars(stmt).all()


def create_mapping(
    session: Session,
    *,
    actor: Actor,
    role: Role,
    group_display_name: str | None = None,
    group_id: uuid.UUID | None = None,
) -> GroupRoleMapping:
    """Map a group, named by display name (case-insensitive) or by id, to a role."""
    require_tenant(session)
    _check_role(role)
    name = (group_display_name or "").strip()
    if bool(name) == (group_id is not None):
        raise ValidationFailed(
            "name the group either by display name or by id", details={"field": "group"}
        )
    if name:
        key = name.lower()
        clash = select(GroupRoleMapping).where(GroupRoleMapping.group_display_key == key)
    else:
        key = None
        clash = select(GroupRoleMapping).where(GroupRoleMapping.group_id == group_id)
    if session.scalars(clash).first() is not None:
        raise Conflict("this group already has a mapping; change or delete it")
    mapping = GroupRoleMapping(
        group_display_name=name or None, group_display_key=key, group_id=group_id, role=role
    )
    session.add(mapping)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="role_mapping.created",
        target_type="role_mapping",
        target_id=mapping.id,
        changes={"group": name or str(group_id), "role": role.value},
    )
    return mapping


def get_mapping(session: Session, mapping_id: uuid.UUID) -> GroupRoleMapping:
    require_tenant(session)
    stmt = select(GroupRoleMapping).where(GroupRoleMapping.id == mapping_id)
    mapping = session.scalars(stmt).one_or_none()
    if mapping is None:
        raise NotFound(f"role mapping {mapping_id} was not found")
    return mapping


def update_mapping(
    session: Session, *, actor: Actor, mapping_id: uuid.UUID, role: Role
) -> GroupRoleMapping:
    _check_role(role)
    mapping = get_mapping(session, mapping_id)
    if mapping.role != role:
        audit.record(
            session,
            actor=actor,
            action="role_mapping.updated",
            target_type="role_mapping",
            target_id=mapping.id,
            changes={"role": {"from": mapping.role.value, "to": role.value}},
        )
        mapping.role = role
    return mapping


def delete_mapping(session: Session, *, actor: Actor, mapping_id: uuid.UUID) -> None:
    mapping = get_mapping(session, mapping_id)
    audit.record(
        session,
        actor=actor,
        action="role_mapping.deleted",
        target_type="role_mapping",
        target_id=mapping.id,
        changes={
            "group": mapping.group_display_name or str(mapping.group_id),
            "role": mapping.role.value,
        },
    )
    session.delete(mapping)


def _matching_mapping() -> ColumnElement[bool]:
    return or_(
        GroupRoleMapping.group_id == Group.id,
        GroupRoleMapping.group_display_key == func.lower(Group.display_name),
    )


def roles_from_groups(session: Session, *, user_id: uuid.UUID) -> set[Role]:
    """Roles the user's group memberships grant through the tenant's mappings."""
    stmt = (
        select(GroupRoleMapping.role)
        .join(Group, _matching_mapping())
        .join(GroupMembership, GroupMembership.group_id == Group.id)
        .where(GroupMembership.user_id == user_id)
        .distinct()
    )
    return set(session.scalars(stmt).all())


def roles_for_group_names(session: Session, *, names: Iterable[str]) -> set[Role]:
    """Roles that groups with these display names map to (SSO sign-in sends group names)."""
    keys = {name.strip().lower() for name in names if name.strip()}
    if not keys:
        return set()
    stmt = select(GroupRoleMapping.role).where(GroupRoleMapping.group_display_key.in_(keys))
    return set(session.scalars(stmt).all())


def resolve_role(session: Session, *, direct: Iterable[Role], user_id: uuid.UUID) -> Role | None:
    """Highest of the direct grants and the mapped roles; else the tenant's default role."""
    roles = set(direct) | roles_from_groups(session, user_id=user_id)
    if roles:
        return highest(roles)
    return get_settings(session).default_role


def groups_mapped_to(session: Session) -> dict[uuid.UUID, Role]:
    """Each group of the tenant that some mapping matches, with its highest mapped role."""
    stmt = select(Group.id, GroupRoleMapping.role).join(GroupRoleMapping, _matching_mapping())
    result: dict[uuid.UUID, Role] = {}
    for group_id, role in session.execute(stmt).all():
        current = result.get(group_id)
        result[group_id] = role if current is None or role.rank > current.rank else current
    return result
