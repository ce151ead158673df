"""SCIM Users and Groups over okr_core's users, identity links, groups and memberships.

Users are small: they are read into a scim2-models resource, changed with the library's
PATCH engine (RFC 7644 §3.5.2 plus the Entra dialect, see ``schemas.POLICY``) and written
back. Groups can hold ten thousand members, so their ``members`` are never loaded to change
them: every membership change is a handful of row inserts or deletes plus a version bump.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scim2_models import (
    Context,
    EnterpriseUser,
    InvalidPathException,
    InvalidValueException,
    MutabilityException,
    NotFoundException,
    PatchOp,
    PreconditionFailedException,
    ResponseParameters,
    SearchRequest,
    TooManyException,
    UniquenessException,
)
from scim2_models.path import FilterNode
from sqlalchemy import Select, and_, delete, func, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from okr_api.scim import filters
from okr_api.scim.auth import ScimClient
from okr_api.scim.filters import Attr, Collection, FilterSchema
from okr_api.scim.schemas import (
    ENTERPRISE_URN,
    FILTERABLE_GROUP_ATTRIBUTES,
    FILTERABLE_USER_ATTRIBUTES,
    GROUP_URN,
    MAX_MEMBERS_PER_REQUEST,
    MAX_OPERATIONS,
    MAX_RESULTS,
    POLICY,
    USER_URN,
    ScimGroup,
    ScimUser,
)
from okr_core import audit, deprovisioning
from okr_core.models import (
    SCIM_PROVIDER,
    Group,
    GroupMembership,
    IdentityLink,
    User,
    UserEmail,
)

# Attributes whose values are not personal data: audit events show them as they are.
# Every other changed value is recorded as a pseudonym, so erasing a person leaves no
# personal data behind in the append-only audit trail. Passwords are never stored at all.
_PLAIN_AUDIT_ATTRIBUTES = frozenset(
    {
        "active",
        "userType",
        "locale",
        "preferredLanguage",
        "timezone",
        "title",
        f"{ENTERPRISE_URN}:department",
        f"{ENTERPRISE_URN}:costCenter",
        f"{ENTERPRISE_URN}:organization",
        f"{ENTERPRISE_URN}:division",
    }
)
_READ_ONLY_KEYS = frozenset({"id", "meta", "groups", "password", "active", "schemas"})


# ---------------------------------------------------------------- shared helpers


def etag(version: int) -> str:
    return f'W/"{version}"'


def check_if_match(header: str | None, version: int) -> None:
    """RFC 7232 If-Match with weak comparison: 412 when the client's version is stale."""
    if header is None:
        return
    tags = {tag.strip() for tag in header.split(",") if tag.strip()}
    current = etag(version)
    if "*" in tags or current in tags or current[2:] in tags:
        return
    raise PreconditionFailedException(
        detail=f"the resource has changed: its version is now {current}"
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


@dataclass(frozen=True)
class Page:
    total: int
    start_index: int
    resources: list[Any]


@dataclass(frozen=True)
class Query:
    filter: str | None = None
    start_index: int = 1
    count: int | None = None
    sort_by: str | None = None
    sort_order: str | None = None

    def page_size(self) -> int:
        if self.count is None:
            return 100
        return max(0, min(self.count, MAX_RESULTS))

    def offset(self) -> int:
        return max(1, self.start_index) - 1


def _search_request(model: type[Any], query: Query) -> SearchRequest[Any]:
    """Validate sortBy/sortOrder through scim2-models (unknown attributes are refused)."""
    data: dict[str, Any] = {}
    if query.sort_by:
        data["sortBy"] = query.sort_by
    if query.sort_order:
        data["sortOrder"] = query.sort_order.lower()
    request: SearchRequest[Any] = SearchRequest[model].model_validate(  # type: ignore[valid-type]
        data, scim_ctx=Context.SEARCH_REQUEST, scim_policy=POLICY
    )
    return request


def _order_by(
    model: type[Any], query: Query, schema: FilterSchema, tiebreak: Sequence[Any]
) -> list[Any]:
    request = _search_request(model, query)
    descending = request.sort_order == SearchRequest.SortOrder.descending
    order: list[Any] = []
    if request.sort_by is not None:
        binding = request.sort_by.resolve(model)
        attr = schema.sortable(binding.urn) if binding is not None else None
        if attr is None:
            raise InvalidValueException(
                detail=f"cannot sort on '{request.sort_by}'; sortable attributes: "
                + ", ".join(n for n in schema.names if "." not in n or n.startswith("name."))
            )
        column: Any = attr.column
        if attr.kind == "string" and not attr.case_exact and not attr.folded:
            column = func.lower(column)
        missing = attr.column.is_(None)
        # RFC 7644 §3.4.2.3: resources without a value sort last ascending, first descending.
        order.append(missing.desc() if descending else missing.asc())
        order.append(column.desc() if descending else column.asc())
    order.extend(tiebreak)
    return order


def _response_wants(params: ResponseParameters[Any] | None, attribute: str) -> bool:
    """Whether a response with these parameters shows ``attribute`` (e.g. members)."""
    if params is None:
        return True
    wanted = attribute.lower()

    def names(paths: Iterable[Any] | None) -> set[str]:
        return {str(p).rsplit(":", 1)[-1].split(".")[0].lower() for p in paths or ()}

    if params.attributes:
        return wanted in names(params.attributes)
    return wanted not in names(params.excluded_attributes)


def _pseudonymised(tenant_id: uuid.UUID, key: str, value: Any) -> Any:
    if key in _PLAIN_AUDIT_ATTRIBUTES or value is None:
        return value
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return deprovisioning.pseudonym(text, tenant_id=tenant_id)


def _flatten(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute path -> value, one level deep into complex attributes and the extension."""
    flat: dict[str, Any] = {}
    for key, value in payload.items():
        if key in ("schemas", "meta", "id", "groups", "members"):
            continue
        if isinstance(value, dict):
            separator = ":" if key.lower().startswith("urn:") else "."
            for sub, sub_value in value.items():
                flat[f"{key}{separator}{sub}"] = sub_value
        else:
            flat[key] = value
    return flat


def audit_changes(
    tenant_id: uuid.UUID, before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, Any]:
    """Which attributes changed, with personal values pseudonymised."""
    old, new = _flatten(before), _flatten(after)
    changes: dict[str, Any] = {}
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            changes[key] = {
                "from": _pseudonymised(tenant_id, key, old.get(key)),
                "to": _pseudonymised(tenant_id, key, new.get(key)),
            }
    return changes


# ---------------------------------------------------------------- users


def user_filter_schema(tenant_id: uuid.UUID) -> FilterSchema:
    core = USER_URN.lower() + ":"
    ent = ENTERPRISE_URN.lower() + ":"

    def emails_exist(cond: ColumnElement[bool]) -> ColumnElement[bool]:
        return (
            select(literal(1))
            .where(UserEmail.user_id == User.id, UserEmail.tenant_id == tenant_id, cond)
            .exists()
        )

    def groups_exist(cond: ColumnElement[bool]) -> ColumnElement[bool]:
        return (
            select(literal(1))
            .where(
                GroupMembership.user_id == User.id,
                GroupMembership.tenant_id == tenant_id,
                cond,
            )
            .exists()
        )

    return FilterSchema(
        attrs={
            core + "id": Attr(User.id, "uuid", case_exact=True),
            core + "username": Attr(IdentityLink.user_name_key, "string", folded=True),
            core + "externalid": Attr(IdentityLink.external_id, "string", case_exact=True),
            core + "displayname": Attr(User.display_name, "string"),
            core + "active": Attr(User.is_active, "boolean"),
            core + "name.givenname": Attr(IdentityLink.given_name, "string"),
            core + "name.familyname": Attr(IdentityLink.family_name, "string"),
            core + "meta.created": Attr(IdentityLink.created_at, "datetime"),
            core + "meta.lastmodified": Attr(IdentityLink.updated_at, "datetime"),
            ent + "employeenumber": Attr(IdentityLink.employee_number, "string", case_exact=True),
            ent + "department": Attr(IdentityLink.department, "string"),
            ent + "manager.value": Attr(IdentityLink.manager_id, "string", case_exact=True),
        },
        collections={
            core + "emails": Collection(
                exists=emails_exist,
                attrs={
                    "value": Attr(UserEmail.value_key, "string", folded=True),
                    "type": Attr(UserEmail.type, "string"),
                    "primary": Attr(UserEmail.primary, "boolean"),
                },
            ),
            core + "groups": Collection(
                exists=groups_exist,
                attrs={"value": Attr(GroupMembership.group_id, "uuid", case_exact=True)},
            ),
        },
        names=FILTERABLE_USER_ATTRIBUTES,
    )


def _users_base() -> Select[User, IdentityLink]:
    return (
        select(User, IdentityLink)
        .join(IdentityLink, IdentityLink.user_id == User.id)
        .where(IdentityLink.provider == SCIM_PROVIDER, IdentityLink.deleted_at.is_(None))
    )


def _get_user(session: Session, user_id: str) -> tuple[User, IdentityLink]:
    parsed = _parse_id(user_id)
    row = None
    if parsed is not None:
        row = session.execute(_users_base().where(User.id == parsed)).one_or_none()
    if row is None:
        raise NotFoundException(detail=f"User {user_id} not found")
    return row[0], row[1]


def _groups_of(session: Session, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Group]]:
    result: dict[uuid.UUID, list[Group]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return result
    stmt = (
        select(GroupMembership.user_id, Group)
        .join(Group, Group.id == GroupMembership.group_id)
        .where(GroupMembership.user_id.in_(user_ids))
        .order_by(Group.display_name)
    )
    for user_id, group in session.execute(stmt).all():
        result[user_id].append(group)
    return result


def user_resource(
    client: ScimClient, user: User, link: IdentityLink, groups: Sequence[Group] | None
) -> ScimUser:
    data = dict(link.attributes)
    data["id"] = str(user.id)
    data["active"] = user.is_active
    if groups:
        data["groups"] = [
            {
                "value": str(g.id),
                "display": g.display_name,
                "$ref": client.location("Groups", g.id),
                "type": "direct",
            }
            for g in groups
        ]
    data["meta"] = {
        "resourceType": "User",
        "created": link.created_at.isoformat(),
        "lastModified": link.updated_at.isoformat(),
        "version": etag(link.version),
        "location": client.location("Users", user.id),
    }
    return ScimUser.model_validate(data, scim_policy=POLICY)


def _fix_manager(value: Any, client: ScimClient) -> Any:
    """Entra sends the manager as a bare id, or without the $ref RFC 7643 requires."""
    if isinstance(value, str):
        return {"value": value, "$ref": client.location("Users", value)} if value else None
    if isinstance(value, dict) and value.get("value") and not value.get("$ref"):
        return {**value, "$ref": client.location("Users", value["value"])}
    return value


def _normalise_user_payload(payload: dict[str, Any], client: ScimClient) -> dict[str, Any]:
    data = dict(payload)
    for key, value in list(data.items()):
        if key.lower() == ENTERPRISE_URN.lower() and isinstance(value, dict):
            extension = dict(value)
            for sub in list(extension):
                if sub.lower() == "manager":
                    extension[sub] = _fix_manager(extension[sub], client)
            data[key] = extension
        elif key.lower() == f"{ENTERPRISE_URN}:manager".lower():
            data[key] = _fix_manager(value, client)
    return data


def _normalise_patch(payload: dict[str, Any], client: ScimClient) -> dict[str, Any]:
    data = dict(payload)
    operations = None
    for key in data:
        if key.lower() == "operations":
            operations = data.pop(key)
            break
    if not isinstance(operations, list):
        raise InvalidValueException(detail="a PATCH request needs an 'Operations' list")
    if len(operations) > MAX_OPERATIONS:
        raise TooManyException(detail=f"at most {MAX_OPERATIONS} operations per request")
    fixed = []
    for operation in operations:
        if isinstance(operation, dict):
            operation = dict(operation)
            path = operation.get("path")
            if isinstance(path, str) and path.lower().endswith(":manager"):
                operation["value"] = _fix_manager(operation.get("value"), client)
            elif path is None and isinstance(operation.get("value"), dict):
                operation["value"] = _normalise_user_payload(operation["value"], client)
        fixed.append(operation)
    data["Operations"] = fixed
    data.setdefault("schemas", ["urn:ietf:params:scim:api:messages:2.0:PatchOp"])
    return data


def _stored_attributes(resource: ScimUser) -> dict[str, Any]:
    dumped = resource.model_dump(scim_ctx=Context.DEFAULT)
    return {k: v for k, v in dumped.items() if k not in _READ_ONLY_KEYS}


def _login_email(resource: ScimUser, user_id: uuid.UUID) -> str:
    emails = [e for e in resource.emails or [] if e.value]
    chosen = (
        next((e for e in emails if e.primary), None)
        or next((e for e in emails if (e.type or "").lower() == "work"), None)
        or (emails[0] if emails else None)
    )
    if chosen is not None and chosen.value:
        return str(chosen.value).strip().lower()
    if resource.user_name and "@" in resource.user_name:
        return resource.user_name.strip().lower()
    return f"{user_id.hex}@scim.invalid"


def _display_name(resource: ScimUser) -> str:
    if resource.display_name:
        return resource.display_name[:200]
    name = resource.name
    if name is not None:
        if name.formatted:
            return name.formatted[:200]
        parts = [p for p in (name.given_name, name.family_name) if p]
        if parts:
            return " ".join(parts)[:200]
    return (resource.user_name or "")[:200]


def _check_unique_user(
    session: Session, resource: ScimUser, *, user_id: uuid.UUID | None, email: str
) -> None:
    key = (resource.user_name or "").lower()
    stmt = select(IdentityLink.user_id).where(
        IdentityLink.provider == SCIM_PROVIDER, IdentityLink.user_name_key == key
    )
    holder = session.scalars(stmt).first()
    if holder is not None and holder != user_id:
        raise UniquenessException(detail=f"userName '{resource.user_name}' is already taken")
    other = session.scalars(select(User.id).where(User.email == email)).first()
    if other is not None and other != user_id:
        raise UniquenessException(detail=f"another user already has the e-mail '{email}'")


def _store_user(
    session: Session,
    user: User,
    link: IdentityLink,
    resource: ScimUser,
    email: str,
    *,
    fresh: bool = False,
) -> None:
    enterprise = resource[EnterpriseUser]
    user_name = resource.user_name or ""
    link.user_name = user_name
    link.user_name_key = user_name.lower()
    link.external_id = resource.external_id
    link.given_name = resource.name.given_name if resource.name else None
    link.family_name = resource.name.family_name if resource.name else None
    link.employee_number = getattr(enterprise, "employee_number", None)
    link.department = getattr(enterprise, "department", None)
    manager = getattr(enterprise, "manager", None)
    link.manager_id = manager.value if manager is not None else None
    link.attributes = _stored_attributes(resource)
    user.email = email
    user.display_name = _display_name(resource) or email
    if not fresh:
        session.execute(delete(UserEmail).where(UserEmail.user_id == user.id))
    for position, entry in enumerate(resource.emails or []):
        if not entry.value:
            continue
        value = str(entry.value)
        session.add(
            UserEmail(
                user_id=user.id,
                position=position,
                value=value,
                value_key=value.lower(),
                type=str(entry.type) if entry.type else None,
                primary=bool(entry.primary),
            )
        )


def _bump(link: IdentityLink) -> None:
    link.version += 1
    link.updated_at = _now()


def _set_active(session: Session, client: ScimClient, user: User, active: bool | None) -> None:
    if active is False and user.is_active:
        deprovisioning.deactivate(session, actor=client.actor, user=user, reason="deactivated")
    elif active is not False and not user.is_active:
        deprovisioning.reactivate(session, actor=client.actor, user=user)


def search_users(session: Session, client: ScimClient, query: Query) -> Page:
    schema = user_filter_schema(client.tenant_id)
    stmt = _users_base()
    if query.filter:
        stmt = stmt.where(filters.to_sql(ScimUser, query.filter, schema))
    order = _order_by(ScimUser, query, schema, [IdentityLink.created_at, User.id])
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    size = query.page_size()
    rows = (
        session.execute(stmt.order_by(*order).offset(query.offset()).limit(size)).all()
        if size
        else []
    )
    groups = _groups_of(session, [row[0].id for row in rows])
    resources = [user_resource(client, u, link, groups[u.id]) for u, link in rows]
    return Page(total=total, start_index=max(1, query.start_index), resources=resources)


def get_user(session: Session, client: ScimClient, user_id: str) -> ScimUser:
    user, link = _get_user(session, user_id)
    return user_resource(client, user, link, _groups_of(session, [user.id])[user.id])


def _holders(
    session: Session, resource: ScimUser, email: str
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """Who holds this userName (any provisioned user) and this e-mail (any user): two
    index lookups."""
    key = (resource.user_name or "").lower()
    by_name = session.scalars(
        select(IdentityLink.user_id).where(
            IdentityLink.provider == SCIM_PROVIDER, IdentityLink.user_name_key == key
        )
    ).first()
    by_email = session.scalars(select(User.id).where(User.email == email)).first()
    return by_name, by_email


def _find_restorable(
    session: Session, holders: Sequence[uuid.UUID | None]
) -> tuple[User, IdentityLink] | None:
    """A soft-deleted user the provider is creating again (same userName or e-mail)."""
    for user_id in dict.fromkeys(h for h in holders if h is not None):
        row = session.execute(
            select(User, IdentityLink)
            .join(IdentityLink, IdentityLink.user_id == User.id)
            .where(
                User.id == user_id,
                IdentityLink.provider == SCIM_PROVIDER,
                IdentityLink.deleted_at.is_not(None),
            )
        ).first()
        if row is not None:
            return row[0], row[1]
    return None


def create_user(session: Session, client: ScimClient, payload: dict[str, Any]) -> ScimUser:
    data = _normalise_user_payload(payload, client)
    resource = ScimUser.model_validate(
        data, scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_policy=POLICY
    )
    active = resource.active is not False
    new_id = uuid.uuid4()
    email = _login_email(resource, new_id)
    by_name, by_email = _holders(session, resource, email)
    restorable = _find_restorable(session, (by_name, by_email)) if by_name or by_email else None
    if restorable is not None:
        user, link = restorable
        email = _login_email(resource, user.id)
        _check_unique_user(session, resource, user_id=user.id, email=email)
        before = dict(link.attributes)
        link.deleted_at = None
        link.purge_after = None
        _store_user(session, user, link, resource, email)
        _bump(link)
        link.created_at = _now()
        _set_active(session, client, user, active)
        audit.record(
            session,
            actor=client.actor,
            action="scim.user.restored",
            target_type="user",
            target_id=user.id,
            changes=audit_changes(client.tenant_id, before, link.attributes),
        )
        session.flush()
        return user_resource(client, user, link, [])
    if by_name is not None:
        raise UniquenessException(detail=f"userName '{resource.user_name}' is already taken")
    if by_email is not None:
        raise UniquenessException(detail=f"another user already has the e-mail '{email}'")
    user = User(
        id=new_id, email=email, display_name=_display_name(resource) or email, is_active=active
    )
    session.add(user)
    session.flush()  # the user row first: links and e-mails refer to it
    link = IdentityLink(provider=SCIM_PROVIDER, user_id=new_id, version=1, attributes={})
    _store_user(session, user, link, resource, email, fresh=True)
    session.add(link)
    changes = audit_changes(client.tenant_id, {}, link.attributes)
    changes["active"] = active
    if resource.password:
        changes["password"] = "ignored"  # noqa: S105 (a note, not a secret)
    audit.record(
        session,
        actor=client.actor,
        action="scim.user.created",
        target_type="user",
        target_id=new_id,
        changes=changes,
    )
    session.flush()
    return user_resource(client, user, link, [])


def replace_user(
    session: Session,
    client: ScimClient,
    user_id: str,
    payload: dict[str, Any],
    if_match: str | None,
) -> ScimUser:
    user, link = _get_user(session, user_id)
    check_if_match(if_match, link.version)
    data = _normalise_user_payload(payload, client)
    resource = ScimUser.model_validate(
        data, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY
    )
    # A replacement without "active" leaves it unassigned: the user is suspended (Okta's
    # App Integration Wizard apps rely on exactly this).
    return _write_user(session, client, user, link, resource, active=resource.active is True)


def _write_user(
    session: Session,
    client: ScimClient,
    user: User,
    link: IdentityLink,
    resource: ScimUser,
    *,
    active: bool,
) -> ScimUser:
    email = _login_email(resource, user.id)
    _check_unique_user(session, resource, user_id=user.id, email=email)
    before = dict(link.attributes)
    was_active = user.is_active
    _store_user(session, user, link, resource, email)
    changes = audit_changes(client.tenant_id, before, link.attributes)
    if changes or was_active != active:
        _bump(link)
    if changes:
        audit.record(
            session,
            actor=client.actor,
            action="scim.user.updated",
            target_type="user",
            target_id=user.id,
            changes=changes,
        )
    _set_active(session, client, user, active)
    session.flush()
    return user_resource(client, user, link, _groups_of(session, [user.id])[user.id])


def patch_user(
    session: Session,
    client: ScimClient,
    user_id: str,
    payload: dict[str, Any],
    if_match: str | None,
) -> ScimUser:
    user, link = _get_user(session, user_id)
    check_if_match(if_match, link.version)
    patch: PatchOp[ScimUser] = PatchOp[ScimUser].model_validate(
        _normalise_patch(payload, client),
        scim_ctx=Context.RESOURCE_PATCH_REQUEST,
        scim_policy=POLICY,
    )
    resource = user_resource(client, user, link, _groups_of(session, [user.id])[user.id])
    if not patch.patch(resource, POLICY):
        return resource
    return _write_user(session, client, user, link, resource, active=resource.active is not False)


def delete_user(session: Session, client: ScimClient, user_id: str, if_match: str | None) -> None:
    user, link = _get_user(session, user_id)
    check_if_match(if_match, link.version)
    group_ids = session.scalars(
        select(GroupMembership.group_id).where(GroupMembership.user_id == user.id)
    ).all()
    _touch_groups(session, group_ids)
    deprovisioning.delete_user(session, actor=client.actor, user=user)
    session.flush()


# ---------------------------------------------------------------- groups


def group_filter_schema(tenant_id: uuid.UUID) -> FilterSchema:
    core = GROUP_URN.lower() + ":"
    members = _members_collection(tenant_id, correlate=True)
    return FilterSchema(
        attrs={
            core + "id": Attr(Group.id, "uuid", case_exact=True),
            core + "displayname": Attr(Group.display_name, "string"),
            core + "externalid": Attr(Group.external_id, "string", case_exact=True),
            core + "meta.created": Attr(Group.created_at, "datetime"),
            core + "meta.lastmodified": Attr(Group.updated_at, "datetime"),
        },
        collections={core + "members": members},
        names=FILTERABLE_GROUP_ATTRIBUTES,
    )


def _members_collection(tenant_id: uuid.UUID, *, correlate: bool) -> Collection:
    def exists(cond: ColumnElement[bool]) -> ColumnElement[bool]:
        return (
            select(literal(1))
            .select_from(GroupMembership)
            .join(User, User.id == GroupMembership.user_id)
            .where(
                GroupMembership.group_id == Group.id,
                GroupMembership.tenant_id == tenant_id,
                cond,
            )
            .exists()
        )

    return Collection(
        exists=exists,
        attrs={
            "value": Attr(GroupMembership.user_id, "uuid", case_exact=True),
            "display": Attr(User.display_name, "string"),
            "type": Attr(literal("User"), "constant", constant="User"),
        },
    )


def _get_group(session: Session, group_id: str) -> Group:
    parsed = _parse_id(group_id)
    group = None
    if parsed is not None:
        group = session.scalars(select(Group).where(Group.id == parsed)).one_or_none()
    if group is None:
        raise NotFoundException(detail=f"Group {group_id} not found")
    return group


def _members_of(
    session: Session, group_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, str]]]:
    result: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {gid: [] for gid in group_ids}
    if not group_ids:
        return result
    stmt = (
        select(GroupMembership.group_id, User.id, User.display_name)
        .join(User, User.id == GroupMembership.user_id)
        .where(GroupMembership.group_id.in_(group_ids))
        .order_by(User.display_name, User.id)
    )
    for group_id, user_id, name in session.execute(stmt).all():
        result[group_id].append((user_id, name))
    return result


def group_resource(
    client: ScimClient, group: Group, members: Sequence[tuple[uuid.UUID, str]] | None
) -> ScimGroup:
    data: dict[str, Any] = {
        "id": str(group.id),
        "displayName": group.display_name,
        "meta": {
            "resourceType": "Group",
            "created": group.created_at.isoformat(),
            "lastModified": group.updated_at.isoformat(),
            "version": etag(group.version),
            "location": client.location("Groups", group.id),
        },
    }
    if group.external_id:
        data["externalId"] = group.external_id
    if members:
        data["members"] = [
            {
                "value": str(uid),
                "display": name,
                "$ref": client.location("Users", uid),
                "type": "User",
            }
            for uid, name in members
        ]
    return ScimGroup.model_validate(data, scim_policy=POLICY)


def search_groups(
    session: Session, client: ScimClient, query: Query, params: ResponseParameters[Any] | None
) -> Page:
    schema = group_filter_schema(client.tenant_id)
    stmt = select(Group)
    if query.filter:
        stmt = stmt.where(filters.to_sql(ScimGroup, query.filter, schema))
    order = _order_by(ScimGroup, query, schema, [Group.created_at, Group.id])
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    size = query.page_size()
    groups = (
        list(session.scalars(stmt.order_by(*order).offset(query.offset()).limit(size)).all())
        if size
        else []
    )
    members = (
        _members_of(session, [g.id for g in groups]) if _response_wants(params, "members") else {}
    )
    resources = [group_resource(client, g, members.get(g.id)) for g in groups]
    return Page(total=total, start_index=max(1, query.start_index), resources=resources)


def get_group(
    session: Session, client: ScimClient, group_id: str, params: ResponseParameters[Any] | None
) -> ScimGroup:
    group = _get_group(session, group_id)
    members = (
        _members_of(session, [group.id])[group.id] if _response_wants(params, "members") else None
    )
    return group_resource(client, group, members)


def _check_unique_group(session: Session, name: str, *, group_id: uuid.UUID | None) -> None:
    stmt = select(Group.id).where(func.lower(Group.display_name) == name.lower())
    holder = session.scalars(stmt).first()
    if holder is not None and holder != group_id:
        raise UniquenessException(detail=f"a group named '{name}' already exists")


def _member_ids(values: Iterable[Any]) -> list[uuid.UUID]:
    """Member ids out of SCIM member values ({"value": id, ...}); refuses anything else."""
    ids: list[uuid.UUID] = []
    for entry in values:
        raw = entry.get("value") if isinstance(entry, dict) else getattr(entry, "value", entry)
        kind = entry.get("type") if isinstance(entry, dict) else getattr(entry, "type", None)
        if kind is not None and str(kind).lower() == "group":
            raise InvalidValueException(detail="nested groups are not supported")
        parsed = _parse_id(str(raw)) if raw is not None else None
        if parsed is None:
            raise InvalidValueException(detail=f"member value {raw!r} is not a user id")
        ids.append(parsed)
    if len(ids) > MAX_MEMBERS_PER_REQUEST:
        raise TooManyException(
            detail=f"at most {MAX_MEMBERS_PER_REQUEST} members can change in one request"
        )
    return list(dict.fromkeys(ids))


def _existing_users(session: Session, ids: Sequence[uuid.UUID]) -> None:
    """Refuse ids that are not provisioned users of this tenant (other tenants included)."""
    if not ids:
        return
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        found.update(
            session.scalars(
                select(IdentityLink.user_id).where(
                    IdentityLink.user_id.in_(chunk),
                    IdentityLink.provider == SCIM_PROVIDER,
                    IdentityLink.deleted_at.is_(None),
                )
            ).all()
        )
    _refuse_missing(ids, found)


def _refuse_missing(ids: Sequence[uuid.UUID], found: set[uuid.UUID]) -> None:
    missing = [str(i) for i in ids if i not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InvalidValueException(detail=f"no such user: {shown}")


def _touch_users(session: Session, user_ids: Sequence[uuid.UUID]) -> None:
    """A membership change changes the users' ``groups``: bump their versions."""
    now = _now()
    for start in range(0, len(user_ids), 1000):
        chunk = list(user_ids[start : start + 1000])
        session.execute(
            update(IdentityLink)
            .where(IdentityLink.user_id.in_(chunk), IdentityLink.provider == SCIM_PROVIDER)
            .values(version=IdentityLink.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _touch_groups(session: Session, group_ids: Sequence[uuid.UUID]) -> None:
    if group_ids:
        session.execute(
            update(Group)
            .where(Group.id.in_(list(group_ids)))
            .values(version=Group.version + 1, updated_at=_now())
            .execution_options(synchronize_session=False)
        )


@dataclass
class MemberChanges:
    added: list[uuid.UUID]
    removed: list[uuid.UUID]

    def record(self, changes: dict[str, Any]) -> None:
        if self.added:
            changes["members_added"] = [str(i) for i in self.added[:100]]
            changes["members_added_count"] = len(self.added)
        if self.removed:
            changes["members_removed"] = [str(i) for i in self.removed[:100]]
            changes["members_removed_count"] = len(self.removed)


class Membership:
    """Membership changes of one group, each costing rows touched, never the whole group."""

    def __init__(self, session: Session, group: Group) -> None:
        self.session = session
        self.group = group
        self.changes = MemberChanges(added=[], removed=[])

    def add(self, ids: Sequence[uuid.UUID]) -> None:
        """Insert the missing rows; one query finds which ids are users and already members."""
        if not ids:
            return
        found: set[uuid.UUID] = set()
        present: set[uuid.UUID] = set()
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            rows = self.session.execute(
                select(IdentityLink.user_id, GroupMembership.user_id)
                .outerjoin(
                    GroupMembership,
                    and_(
                        GroupMembership.user_id == IdentityLink.user_id,
                        GroupMembership.group_id == self.group.id,
                    ),
                )
                .where(
                    IdentityLink.user_id.in_(chunk),
                    IdentityLink.provider == SCIM_PROVIDER,
                    IdentityLink.deleted_at.is_(None),
                )
            ).all()
            found.update(user_id for user_id, _ in rows)
            present.update(user_id for user_id, member in rows if member is not None)
        _refuse_missing(ids, found)
        fresh = [i for i in ids if i not in present]
        self.session.add_all(GroupMembership(group_id=self.group.id, user_id=i) for i in fresh)
        self._note(added=fresh, removed=[])

    def remove(self, ids: Sequence[uuid.UUID]) -> None:
        if not ids:
            return
        removed: list[uuid.UUID] = []
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            removed.extend(
                self.session.scalars(
                    select(GroupMembership.user_id).where(
                        GroupMembership.group_id == self.group.id,
                        GroupMembership.user_id.in_(chunk),
                    )
                ).all()
            )
        self._delete(removed)

    def remove_matching(self, condition: ColumnElement[bool]) -> None:
        stmt = (
            select(GroupMembership.user_id)
            .join(User, User.id == GroupMembership.user_id)
            .where(GroupMembership.group_id == self.group.id, condition)
        )
        self._delete(list(self.session.scalars(stmt).all()))

    def remove_all(self) -> None:
        current = self.session.scalars(
            select(GroupMembership.user_id).where(GroupMembership.group_id == self.group.id)
        ).all()
        self._delete(list(current))

    def replace(self, ids: Sequence[uuid.UUID]) -> None:
        _existing_users(self.session, ids)
        current = set(
            self.session.scalars(
                select(GroupMembership.user_id).where(GroupMembership.group_id == self.group.id)
            ).all()
        )
        wanted = set(ids)
        self._delete([i for i in current if i not in wanted])
        fresh = [i for i in ids if i not in current]
        self.session.add_all(GroupMembership(group_id=self.group.id, user_id=i) for i in fresh)
        self._note(added=fresh, removed=[])

    def _delete(self, ids: list[uuid.UUID]) -> None:
        if not ids:
            return
        self.session.flush()
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            self.session.execute(
                delete(GroupMembership)
                .where(
                    GroupMembership.group_id == self.group.id, GroupMembership.user_id.in_(chunk)
                )
                .execution_options(synchronize_session=False)
            )
        self._note(added=[], removed=ids)

    def _note(self, *, added: list[uuid.UUID], removed: list[uuid.UUID]) -> None:
        removed_now = set(removed)
        self.changes.added = [i for i in self.changes.added if i not in removed_now] + added
        self.changes.removed.extend(removed)
        _touch_users(self.session, added + removed)


def create_group(session: Session, client: ScimClient, payload: dict[str, Any]) -> ScimGroup:
    resource = ScimGroup.model_validate(
        payload, scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_policy=POLICY
    )
    name = (resource.display_name or "").strip()
    if not name:
        raise InvalidValueException(detail="displayName is required")
    _check_unique_group(session, name, group_id=None)
    group = Group(display_name=name[:255], external_id=resource.external_id, version=1)
    session.add(group)
    session.flush()
    members = Membership(session, group)
    members.add(_member_ids(resource.members or []))
    changes: dict[str, Any] = {"displayName": name, "externalId": resource.external_id}
    members.changes.record(changes)
    audit.record(
        session,
        actor=client.actor,
        action="scim.group.created",
        target_type="group",
        target_id=group.id,
        changes=changes,
    )
    session.flush()
    return group_resource(client, group, _members_of(session, [group.id])[group.id])


def _finish_group_change(
    session: Session,
    client: ScimClient,
    group: Group,
    before: dict[str, Any],
    members: Membership,
) -> None:
    after = {"displayName": group.display_name, "externalId": group.external_id}
    changes = audit.diff(before, after)
    members.changes.record(changes)
    if not changes:
        return
    if after["displayName"] != before["displayName"]:
        _check_unique_group(session, group.display_name, group_id=group.id)
    group.version += 1
    group.updated_at = _now()
    action = "scim.group.updated"
    if set(changes) <= {
        "members_added",
        "members_added_count",
        "members_removed",
        "members_removed_count",
    }:
        action = "scim.group.members_changed"
    audit.record(
        session,
        actor=client.actor,
        action=action,
        target_type="group",
        target_id=group.id,
        changes=changes,
    )
    session.flush()


def replace_group(
    session: Session,
    client: ScimClient,
    group_id: str,
    payload: dict[str, Any],
    if_match: str | None,
) -> ScimGroup:
    group = _get_group(session, group_id)
    check_if_match(if_match, group.version)
    resource = ScimGroup.model_validate(
        payload, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY
    )
    name = (resource.display_name or "").strip()
    if not name:
        raise InvalidValueException(detail="displayName is required")
    before = {"displayName": group.display_name, "externalId": group.external_id}
    group.display_name = name[:255]
    group.external_id = resource.external_id
    members = Membership(session, group)
    members.replace(_member_ids(resource.members or []))
    _finish_group_change(session, client, group, before, members)
    return group_resource(client, group, _members_of(session, [group.id])[group.id])


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_members(key: str) -> bool:
    key = key.lower()
    return key == "members" or key == f"{GROUP_URN.lower()}:members"


def patch_group(
    session: Session,
    client: ScimClient,
    group_id: str,
    payload: dict[str, Any],
    if_match: str | None,
) -> Group:
    """Apply a PATCH to a group: members as row changes, other attributes via scim2-models."""
    group = _get_group(session, group_id)
    check_if_match(if_match, group.version)
    patch: PatchOp[ScimGroup] = PatchOp[ScimGroup].model_validate(
        _normalise_patch(payload, client),
        scim_ctx=Context.RESOURCE_PATCH_REQUEST,
        scim_policy=POLICY,
    )
    before = {"displayName": group.display_name, "externalId": group.external_id}
    members = Membership(session, group)
    attributes = ScimGroup.model_validate(
        {"id": str(group.id), "displayName": group.display_name, "externalId": group.external_id},
        scim_policy=POLICY,
    )
    schema = group_filter_schema(client.tenant_id)
    collection = schema.collections[GROUP_URN.lower() + ":members"]
    for operation in patch.operations or []:
        op = operation.op.value
        if operation.path is None:
            value = operation.value
            if not isinstance(value, dict):
                raise InvalidValueException(detail=f"a {op} without a path needs an object value")
            member_values = [v for k, v in value.items() if _is_members(k)]
            others = {k: v for k, v in value.items() if not _is_members(k)}
            for member_value in member_values:
                ids = _member_ids(_listify(member_value))
                if op == "add":
                    members.add(ids)
                else:
                    members.replace(ids)
            if others:
                _patch_attributes(attributes, op, None, others)
            continue
        binding = operation.path.resolve()
        if binding is None or binding.field_name != "members":
            _patch_attributes(attributes, op, str(operation.path), operation.value)
            continue
        value_filter: FilterNode | None = operation.path.value_filter
        if binding.sub_field_name is not None or not str(operation.path).rstrip().endswith(
            ("members", "]")
        ):
            raise InvalidPathException(
                path=str(operation.path), detail="member sub-attributes cannot be patched"
            )
        if op == "add":
            if value_filter is not None:
                raise InvalidPathException(
                    path=str(operation.path), detail="add members with the path 'members'"
                )
            members.add(_member_ids(_listify(operation.value)))
        elif op == "replace":
            if value_filter is not None:
                raise MutabilityException(
                    detail="members are immutable: remove the member and add another"
                )
            members.replace(_member_ids(_listify(operation.value)))
        elif operation.value is not None:
            # Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]} removes only
            # the listed members; an empty list removes nobody.
            if value_filter is not None:
                raise InvalidValueException(detail="a remove with a filtered path carries no value")
            members.remove(_member_ids(_listify(operation.value)))
        elif value_filter is not None:
            members.remove_matching(
                filters.rows_matching(
                    collection, value_filter, prefix=f"{GROUP_URN}:members", schema=schema
                )
            )
        else:
            members.remove_all()
    name = (attributes.display_name or "").strip()
    if not name:
        raise MutabilityException(detail="displayName is required")
    group.display_name = name[:255]
    group.external_id = attributes.external_id
    _finish_group_change(session, client, group, before, members)
    return group


def _patch_attributes(resource: ScimGroup, op: str, path: str | None, value: Any) -> None:
    operation: dict[str, Any] = {"op": op, "value": value}
    if path is not None:
        operation["path"] = path
    if op == "remove" and value is None:
        operation.pop("value")
    patch: PatchOp[ScimGroup] = PatchOp[ScimGroup].model_validate(
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [operation]},
        scim_ctx=Context.RESOURCE_PATCH_REQUEST,
        scim_policy=POLICY,
    )
    patch.patch(resource, POLICY)


def delete_group(session: Session, client: ScimClient, group_id: str, if_match: str | None) -> None:
    group = _get_group(session, group_id)
    check_if_match(if_match, group.version)
    member_ids = list(
        session.scalars(
            select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)
        ).all()
    )
    _touch_users(session, member_ids)
    session.execute(delete(GroupMembership).where(GroupMembership.group_id == group.id))
    audit.record(
        session,
        actor=client.actor,
        action="scim.group.deleted",
        target_type="group",
        target_id=group.id,
        changes={"displayName": group.display_name, "members_removed_count": len(member_ids)},
    )
    session.delete(group)
    session.flush()
