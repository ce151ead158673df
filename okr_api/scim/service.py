"""SCIM Users and Groups over okr_core's users, identity links, groups and memberships.

Users are small: they are read into a scim2-models resource, changed with the library's
PATCH engine (RFC 7644 §3.5.2 plus the Entra dialect, see ``schemas.POLICY``) and written
back. Groups can hold ten thousand members, so their ``members`` are never loaded to change
them: every membership change is a handful of row inserts or deletes plus a version bump.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
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
from sqlalchemy import Select, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from okr_api.scim import filters
from okr_api.scim import queries as q
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
from okr_core.db import commit_with_last
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
        key = schema.sort_key(binding.urn if binding is not None else "", str(request.sort_by))
        # RFC 7644 §3.4.2.3: resources without a value sort last ascending, first descending.
        # NULLS FIRST/LAST rather than a separate "is null" key: a multi-valued attribute's key
        # is a subquery, which that would run twice per row.
        order.append(key.desc().nulls_first() if descending else key.asc().nulls_last())
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


# Why sortBy refuses a multi-valued attribute: RFC 7644 §3.4.2.3 sorts by the primary value,
# else the first, and memberships have neither (they are a set, possibly of thousands).
_NO_FIRST_VALUE = (
    "{values} have no primary value and no stored order, so there is no value to sort by"
)


def user_filter_schema(tenant_id: uuid.UUID) -> FilterSchema:
    core = USER_URN.lower() + ":"
    ent = ENTERPRISE_URN.lower() + ":"

    def emails_exist(cond: ColumnElement[bool]) -> ColumnElement[bool]:
        return (
            select(literal(1))
            .where(UserEmail.user_id == User.id, UserEmail.tenant_id == tenant_id, cond)
            .exists()
        )

    def primary_else_first(column: filters.Column) -> ColumnElement[Any]:
        """What a user sorts by for an e-mail sub-attribute (RFC 7644 §3.4.2.3): its primary
        e-mail's, else its first e-mail's as stored; NULL, a missing value, without e-mails."""
        return (
            select(column)
            .where(UserEmail.user_id == User.id, UserEmail.tenant_id == tenant_id)
            .order_by(UserEmail.primary.desc(), UserEmail.position)
            .limit(1)
            .correlate(User)
            .scalar_subquery()
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
                sort_keys={  # caseExact false, as for filters
                    "value": primary_else_first(UserEmail.value_key),
                    "type": primary_else_first(func.lower(UserEmail.type)),
                },
            ),
            core + "groups": Collection(
                exists=groups_exist,
                attrs={"value": Attr(GroupMembership.group_id, "uuid", case_exact=True)},
                unsortable=_NO_FIRST_VALUE.format(values="a user's groups"),
            ),
        },
        names=FILTERABLE_USER_ATTRIBUTES,
        urn=USER_URN,
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
    session: Session, client: ScimClient, resource: ScimUser, email: str
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """Who holds this userName (any provisioned user) and this e-mail (any user): two
    index look-ups in one round trip."""
    row = (
        session.connection()
        .execute(
            q.HOLDERS,
            {
                "t_id": client.tenant_id,
                "name_key": (resource.user_name or "").lower(),
                "email": email,
            },
        )
        .one()
    )
    return row.by_name, row.by_email


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


_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(datetime)


def _timestamp(value: datetime) -> str:
    """A dateTime as scim2-models serialises it (RFC 3339, UTC as ``Z``)."""
    text: str = _TIMESTAMP.dump_python(value, mode="json")
    return text


def user_body(
    client: ScimClient,
    user_id: uuid.UUID,
    attributes: Mapping[str, Any],
    *,
    schemas: Sequence[str],
    active: bool,
    created: datetime,
    last_modified: datetime,
    version: int,
) -> dict[str, Any]:
    """A user with no groups as a full SCIM response (what ``user_resource(...).model_dump``
    gives in the query-response context), built from the attributes just stored: no second
    validation of what was validated a moment ago."""
    return {
        "schemas": list(schemas),
        "id": str(user_id),
        **attributes,
        "active": active,
        "meta": {
            "resourceType": "User",
            "created": _timestamp(created),
            "lastModified": _timestamp(last_modified),
            "location": client.location("Users", user_id),
            "version": etag(version),
        },
    }


def _uniqueness_conflict(error: IntegrityError, resource: ScimUser, email: str) -> Exception:
    """The 409 for a unique constraint that a concurrent request won (our check saw no
    holder); any other integrity error is not ours to explain."""
    text = str(error.orig).lower()
    if "unique" not in text:
        return error
    if "email" in text and "user_name" not in text:
        return UniquenessException(detail=f"another user already has the e-mail '{email}'")
    return UniquenessException(detail=f"userName '{resource.user_name}' is already taken")


def _is_postgresql(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def create_user(session: Session, client: ScimClient, payload: dict[str, Any]) -> dict[str, Any]:
    """Provision a user (or restore a soft-deleted one the provider creates again); returns
    the full SCIM representation.

    On PostgreSQL one statement looks up who holds the userName and e-mail and, only when
    nobody does, writes the user, its identity link, its e-mails and the audit event; elsewhere
    the look-up and the inserts are separate statements. A holder sends the request down the
    restore path (or 409). A concurrent create that wins the race is caught by the unique
    constraints and answered 409 like any other clash.
    """
    data = _normalise_user_payload(payload, client)
    resource = ScimUser.model_validate(
        data, scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_policy=POLICY
    )
    active = resource.active is not False
    new_id = uuid.uuid4()
    email = _login_email(resource, new_id)
    one_statement = _is_postgresql(session)
    if not one_statement:
        by_name, by_email = _holders(session, client, resource, email)
        if by_name is not None or by_email is not None:
            return _restore_user(session, client, resource, email, active, (by_name, by_email))
    dumped = resource.model_dump(scim_ctx=Context.DEFAULT)
    attributes = {k: v for k, v in dumped.items() if k not in _READ_ONLY_KEYS}
    user_name = resource.user_name or ""
    enterprise = resource[EnterpriseUser]
    manager = getattr(enterprise, "manager", None)
    now = _now()
    tenant_id = client.tenant_id
    user_row = {
        "id": new_id,
        "tenant_id": tenant_id,
        "email": email,
        "display_name": _display_name(resource) or email,
        "is_active": active,
        "password_hash": None,
        "session_epoch": 0,
        "last_login_at": None,
        "created_at": now,
        "updated_at": now,
    }
    link_row = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "provider": SCIM_PROVIDER,
        "user_id": new_id,
        "user_name": user_name,
        "user_name_key": user_name.lower(),
        "external_id": resource.external_id,
        "given_name": resource.name.given_name if resource.name else None,
        "family_name": resource.name.family_name if resource.name else None,
        "employee_number": getattr(enterprise, "employee_number", None),
        "department": getattr(enterprise, "department", None),
        "manager_id": manager.value if manager is not None else None,
        "attributes": attributes,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "purge_after": None,
    }
    email_rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "user_id": new_id,
            "position": position,
            "value": str(entry.value),
            "value_key": str(entry.value).lower(),
            "type": str(entry.type) if entry.type else None,
            "primary": bool(entry.primary),
        }
        for position, entry in enumerate(resource.emails or [])
        if entry.value
    ]
    changes = audit_changes(tenant_id, {}, attributes)
    changes["active"] = active
    if resource.password:
        changes["password"] = "ignored"  # noqa: S105 (a note, not a secret)
    event = audit.event_row(
        tenant_id=tenant_id,
        actor=client.actor,
        action="scim.user.created",
        target_type="user",
        target_id=new_id,
        changes=changes,
        occurred_at=now,
    )
    connection = session.connection()
    try:
        if one_statement:
            params = {
                "t_id": tenant_id,
                "name_key": user_name.lower(),
                "email": email,
                "user": q.record_json(user_row),
                "link": q.record_json(link_row),
                "emails": q.record_json(email_rows),
                "event": q.record_json(event),
            }
            holders = connection.execute(q.PG_CREATE_USER, params).one()
            if holders.by_name is not None or holders.by_email is not None:  # nothing written
                found = (holders.by_name, holders.by_email)
                return _restore_user(session, client, resource, email, active, found)
        else:
            connection.execute(q.INSERT_USER, user_row)
            connection.execute(q.INSERT_LINK, link_row)
            if email_rows:
                connection.execute(q.INSERT_EMAIL, email_rows)
            connection.execute(q.INSERT_EVENT, event)
    except IntegrityError as error:
        raise _uniqueness_conflict(error, resource, email) from None
    return user_body(
        client,
        new_id,
        attributes,
        schemas=dumped.get("schemas") or [USER_URN],
        active=active,
        created=now,
        last_modified=now,
        version=1,
    )


def _restore_user(
    session: Session,
    client: ScimClient,
    resource: ScimUser,
    email: str,
    active: bool,
    holders: tuple[uuid.UUID | None, uuid.UUID | None],
) -> dict[str, Any]:
    """The provider creates a soft-deleted user again: bring it back; else the clash is 409."""
    restorable = _find_restorable(session, holders)
    if restorable is None:
        if holders[0] is not None:
            raise UniquenessException(detail=f"userName '{resource.user_name}' is already taken")
        raise UniquenessException(detail=f"another user already has the e-mail '{email}'")
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
    return _response_body(user_resource(client, user, link, []))


def _response_body(resource: ScimUser | ScimGroup) -> dict[str, Any]:
    body: dict[str, Any] = resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, scim_policy=POLICY
    )
    return body


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
    members = _members_collection(tenant_id)
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
        urn=GROUP_URN,
    )


def _members_collection(tenant_id: uuid.UUID) -> Collection:
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
        unsortable=_NO_FIRST_VALUE.format(values="a group's members"),
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


def _check_unique_group(
    session: Session, client: ScimClient, name: str, *, group_id: uuid.UUID | None
) -> None:
    holder = (
        session.connection()
        .execute(q.GROUP_NAME_HOLDER, {"t_id": client.tenant_id, "name_key": name.lower()})
        .scalar()
    )
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


def _chunks(ids: Sequence[uuid.UUID], size: int = 1000) -> Iterator[list[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _existing_users(session: Session, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    """Refuse ids that are not provisioned users of this tenant (other tenants included)."""
    if not ids:
        return
    connection = session.connection()
    found: set[uuid.UUID] = set()
    for chunk in _chunks(ids):
        found.update(
            connection.execute(q.PROVISIONED, {"t_id": tenant_id, "u_ids": chunk}).scalars()
        )
    _refuse_missing(ids, found)


def _refuse_missing(ids: Sequence[uuid.UUID], found: set[uuid.UUID]) -> None:
    missing = [str(i) for i in ids if i not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InvalidValueException(detail=f"no such user: {shown}")


def _touch_users(session: Session, tenant_id: uuid.UUID, user_ids: Sequence[uuid.UUID]) -> None:
    """A membership change changes the users' ``groups``: bump their versions."""
    if not user_ids:
        return
    connection = session.connection()
    now = _now()
    for chunk in _chunks(user_ids):
        connection.execute(q.TOUCH_USERS, {"t_id": tenant_id, "u_ids": chunk, "now": now})


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
    """Membership changes of one group, each costing rows touched, never the whole group.

    Core statements on the request's connection, each naming the tenant (see ``queries``).
    """

    def __init__(self, session: Session, tenant_id: uuid.UUID, group_id: uuid.UUID) -> None:
        self.session = session
        self.connection = session.connection()
        self.postgresql = self.connection.dialect.name == "postgresql"
        self.tenant_id = tenant_id
        self.group_id = group_id
        self.changes = MemberChanges(added=[], removed=[])

    def _params(self, **more: Any) -> dict[str, Any]:
        return {"t_id": self.tenant_id, "g_id": self.group_id, **more}

    def add(self, ids: Sequence[uuid.UUID]) -> None:
        """Insert the missing rows. On PostgreSQL one statement per thousand ids checks that
        they are users, inserts those not yet members and bumps their versions; elsewhere a
        query finds users and members first."""
        if not ids:
            return
        found: set[uuid.UUID] = set()
        inserted: set[uuid.UUID] = set()
        if self.postgresql:
            now = _now()
            for chunk in _chunks(ids):
                rows = self.connection.execute(q.PG_ADD_MEMBERS, self._params(u_ids=chunk, now=now))
                for user_id, added in rows:
                    found.add(user_id)
                    if added is not None:
                        inserted.add(user_id)
            _refuse_missing(ids, found)  # the request fails: its inserts roll back
            self._note(added=[i for i in ids if i in inserted], removed=[], touched=True)
            return
        present: set[uuid.UUID] = set()
        for chunk in _chunks(ids):
            for user_id, member in self.connection.execute(
                q.USERS_AND_MEMBERSHIP, self._params(u_ids=chunk)
            ):
                found.add(user_id)
                if member is not None:
                    present.add(user_id)
        _refuse_missing(ids, found)
        fresh = [i for i in ids if i not in present]
        self._insert(fresh)
        self._note(added=fresh, removed=[])

    def remove(self, ids: Sequence[uuid.UUID]) -> None:
        self._delete(ids)

    def remove_matching(self, condition: ColumnElement[bool]) -> None:
        stmt = (
            select(GroupMembership.user_id)
            .join(User, User.id == GroupMembership.user_id)
            .where(
                GroupMembership.tenant_id == self.tenant_id,
                GroupMembership.group_id == self.group_id,
                condition,
            )
        )
        self._delete(list(self.session.scalars(stmt).all()))

    def remove_all(self) -> None:
        self._delete(self._current())

    def replace(self, ids: Sequence[uuid.UUID]) -> None:
        _existing_users(self.session, self.tenant_id, ids)
        current = set(self._current())
        wanted = set(ids)
        self._delete([i for i in current if i not in wanted])
        fresh = [i for i in ids if i not in current]
        self._insert(fresh)
        self._note(added=fresh, removed=[])

    def _current(self) -> list[uuid.UUID]:
        return list(self.connection.execute(q.MEMBER_IDS, self._params()).scalars())

    def _insert(self, ids: Sequence[uuid.UUID]) -> None:
        if ids:
            self.connection.execute(
                q.INSERT_MEMBER,
                [
                    {"tenant_id": self.tenant_id, "group_id": self.group_id, "user_id": i}
                    for i in ids
                ],
            )

    def _delete(self, ids: Sequence[uuid.UUID]) -> None:
        """Delete these memberships; only the rows that existed count as removed."""
        removed: list[uuid.UUID] = []
        for chunk in _chunks(ids):
            removed.extend(
                self.connection.execute(q.DELETE_MEMBERS, self._params(u_ids=chunk)).scalars()
            )
        if removed:
            self._note(added=[], removed=removed)

    def _note(
        self, *, added: list[uuid.UUID], removed: list[uuid.UUID], touched: bool = False
    ) -> None:
        removed_now = set(removed)
        self.changes.added = [i for i in self.changes.added if i not in removed_now] + added
        self.changes.removed.extend(removed)
        if not touched:
            _touch_users(self.session, self.tenant_id, added + removed)


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A group as its SCIM representation needs it (read or just written with Core)."""

    id: uuid.UUID
    display_name: str
    external_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime


def group_body(
    client: ScimClient, group: GroupRow, members: Sequence[tuple[uuid.UUID, str]] | None
) -> dict[str, Any]:
    """The full SCIM response for a group (what ``group_resource(...).model_dump`` gives in
    the query-response context), built without a validation round: a group's attributes are
    our own columns, already checked when written."""
    body: dict[str, Any] = {
        "schemas": [GROUP_URN],
        "id": str(group.id),
        "displayName": group.display_name,
        "meta": {
            "resourceType": "Group",
            "created": _timestamp(group.created_at),
            "lastModified": _timestamp(group.updated_at),
            "location": client.location("Groups", group.id),
            "version": etag(group.version),
        },
    }
    if group.external_id:
        body["externalId"] = group.external_id
    if members:
        body["members"] = [
            {
                "value": str(uid),
                "$ref": client.location("Users", uid),
                "type": "User",
                "display": name,
            }
            for uid, name in members
        ]
    return body


def _member_names(
    session: Session, tenant_id: uuid.UUID, group_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    rows = session.connection().execute(q.MEMBERS_WITH_NAMES, {"t_id": tenant_id, "g_id": group_id})
    return [(user_id, name) for user_id, name in rows]


def _group_row(session: Session, client: ScimClient, group_id: str) -> GroupRow:
    parsed = _parse_id(group_id)
    row = None
    if parsed is not None:
        row = (
            session.connection()
            .execute(q.GROUP_ROW, {"t_id": client.tenant_id, "g_id": parsed})
            .one_or_none()
        )
    if row is None:
        raise NotFoundException(detail=f"Group {group_id} not found")
    return GroupRow(*row)


def create_group(session: Session, client: ScimClient, payload: dict[str, Any]) -> dict[str, Any]:
    """Create a group (and its first members); returns the full SCIM representation."""
    resource = ScimGroup.model_validate(
        payload, scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_policy=POLICY
    )
    name = (resource.display_name or "").strip()
    if not name:
        raise InvalidValueException(detail="displayName is required")
    _check_unique_group(session, client, name, group_id=None)
    now = _now()
    group = GroupRow(
        id=uuid.uuid4(),
        display_name=name[:255],
        external_id=resource.external_id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    group_row = {
        "id": group.id,
        "tenant_id": client.tenant_id,
        "display_name": group.display_name,
        "external_id": group.external_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    member_ids = _member_ids(resource.members or [])
    changes: dict[str, Any] = {"displayName": name, "externalId": resource.external_id}
    connection = session.connection()
    try:
        if not member_ids and _is_postgresql(session):
            event = audit.event_row(
                tenant_id=client.tenant_id,
                actor=client.actor,
                action="scim.group.created",
                target_type="group",
                target_id=group.id,
                changes=changes,
                occurred_at=now,
            )
            params = {**q.params_for("g_", group_row), **q.params_for("a_", event)}
            connection.execute(q.PG_CREATE_GROUP, params)
            return group_body(client, group, None)
        connection.execute(q.INSERT_GROUP, group_row)
    except IntegrityError:
        raise UniquenessException(detail=f"a group named '{name}' already exists") from None
    members = Membership(session, client.tenant_id, group.id)
    members.add(member_ids)
    members.changes.record(changes)
    audit.append(
        session,
        actor=client.actor,
        action="scim.group.created",
        target_type="group",
        target_id=group.id,
        changes=changes,
        occurred_at=now,
    )
    names = _member_names(session, client.tenant_id, group.id) if member_ids else None
    return group_body(client, group, names)


_MEMBER_CHANGE_KEYS = frozenset(
    {"members_added", "members_added_count", "members_removed", "members_removed_count"}
)


def _finish_group_change(
    session: Session,
    client: ScimClient,
    group: GroupRow,
    *,
    display_name: str,
    external_id: str | None,
    members: Membership,
    if_match: str | None,
) -> GroupRow:
    """Audit the change and bump the group's version (last: its row lock lasts until the
    commit); the group as it is now. Nothing changed: nothing written."""
    before = {"displayName": group.display_name, "externalId": group.external_id}
    after = {"displayName": display_name, "externalId": external_id}
    changes = audit.diff(before, after)
    members.changes.record(changes)
    if not changes:
        return group
    if display_name != group.display_name:
        _check_unique_group(session, client, display_name, group_id=group.id)
    now = _now()
    action = (
        "scim.group.members_changed"
        if set(changes) <= _MEMBER_CHANGE_KEYS
        else "scim.group.updated"
    )
    event = audit.event_row(
        tenant_id=client.tenant_id,
        actor=client.actor,
        action=action,
        target_type="group",
        target_id=group.id,
        changes=changes,
        occurred_at=now,
    )
    params = {
        "t_id": client.tenant_id,
        "g_id": group.id,
        "name": display_name,
        "ext": external_id,
        "now": now,
    }
    if if_match is not None:
        params["seen"] = group.version
    connection = session.connection()
    try:
        if _is_postgresql(session):
            params.update(q.params_for("a_", event))
            bump = q.PG_BUMP_GROUP if if_match is None else q.PG_BUMP_GROUP_IF_UNCHANGED
        else:
            connection.execute(q.INSERT_EVENT, event)
            bump = q.BUMP_GROUP if if_match is None else q.BUMP_GROUP_IF_UNCHANGED
        row = connection.execute(bump, params).one_or_none()
    except IntegrityError:
        raise UniquenessException(detail=f"a group named '{display_name}' already exists") from None
    if row is None:
        if if_match is not None:
            raise PreconditionFailedException(detail="the group changed while this request ran")
        raise NotFoundException(detail=f"Group {group.id} not found")
    version, created_at, updated_at = row
    return GroupRow(group.id, display_name, external_id, version, created_at, updated_at)


def replace_group(
    session: Session,
    client: ScimClient,
    group_id: str,
    payload: dict[str, Any],
    if_match: str | None,
) -> dict[str, Any]:
    group = _group_row(session, client, group_id)
    check_if_match(if_match, group.version)
    resource = ScimGroup.model_validate(
        payload, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY
    )
    name = (resource.display_name or "").strip()
    if not name:
        raise InvalidValueException(detail="displayName is required")
    members = Membership(session, client.tenant_id, group.id)
    members.replace(_member_ids(resource.members or []))
    group = _finish_group_change(
        session,
        client,
        group,
        display_name=name[:255],
        external_id=resource.external_id,
        members=members,
        if_match=if_match,
    )
    return group_body(client, group, _member_names(session, client.tenant_id, group.id))


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_members(key: str) -> bool:
    key = key.lower()
    return key == "members" or key == f"{GROUP_URN.lower()}:members"


class _GroupAttributes:
    """The group's own attributes for PATCH operations that are not member changes; a
    scim2-models resource is built only when such an operation comes."""

    def __init__(self, group: GroupRow) -> None:
        self.group = group
        self.resource: ScimGroup | None = None

    def patch(self, op: str, path: str | None, value: Any) -> None:
        if self.resource is None:
            self.resource = ScimGroup.model_validate(
                {
                    "id": str(self.group.id),
                    "displayName": self.group.display_name,
                    "externalId": self.group.external_id,
                },
                scim_policy=POLICY,
            )
        _patch_attributes(self.resource, op, path, value)

    def result(self) -> tuple[str, str | None]:
        if self.resource is None:
            return self.group.display_name, self.group.external_id
        name = (self.resource.display_name or "").strip()
        if not name:
            raise MutabilityException(detail="displayName is required")
        return name[:255], self.resource.external_id


_PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_MEMBER_FILTER = re.compile(
    r'members\[value eq "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"\]',
    re.IGNORECASE,
)
_MEMBER_VALUE_KEYS = frozenset({"value", "display", "$ref"})


def _plain_member_values(value: Any) -> list[uuid.UUID] | None:
    """``[{"value": id, "display": "..."}, ...]`` as ids; None for anything less plain."""
    if not isinstance(value, list):
        return None
    ids: list[uuid.UUID] = []
    for entry in value:
        if not isinstance(entry, dict) or not entry.keys() <= _MEMBER_VALUE_KEYS:
            return None
        if not isinstance(entry.get("display", ""), str) or entry.get("$ref") is not None:
            return None
        parsed = _parse_id(entry["value"]) if isinstance(entry.get("value"), str) else None
        if parsed is None:
            return None
        ids.append(parsed)
    return ids


def member_changes_only(payload: Mapping[str, Any]) -> list[tuple[str, list[uuid.UUID]]] | None:
    """A PATCH that only adds or removes listed members, in the very shapes Okta and Entra ID
    send by the thousand, as ``[("add" | "remove", ids), ...]``; None for any other request.

    Those shapes need no PATCH engine: this reads them exactly as scim2-models would (ops
    case-insensitive, ``members`` or ``members[value eq "<id>"]`` paths, plain member
    values), so the request skips a validation that costs more than its database work. Any
    departure, however small, returns None and the request goes through scim2-models.
    """
    if payload.keys() != {"schemas", "Operations"} or payload["schemas"] != [_PATCH_OP_URN]:
        return None
    operations = payload["Operations"]
    if not isinstance(operations, list) or not 0 < len(operations) <= MAX_OPERATIONS:
        return None
    changes: list[tuple[str, list[uuid.UUID]]] = []
    for operation in operations:
        if not isinstance(operation, dict) or not operation.keys() <= {"op", "path", "value"}:
            return None
        op, path = operation.get("op"), operation.get("path")
        if not isinstance(op, str) or not isinstance(path, str):
            return None
        op = op.lower()
        if op == "add" and path.lower() == "members":
            ids = _plain_member_values(operation.get("value"))
        elif op == "remove" and path.lower() == "members" and "value" in operation:
            ids = _plain_member_values(operation["value"])  # Entra: remove the listed ones
        elif op == "remove" and "value" not in operation:
            match = _MEMBER_FILTER.fullmatch(path)
            ids = [uuid.UUID(match.group(1))] if match else None
        else:
            return None
        if not ids or len(ids) > MAX_MEMBERS_PER_REQUEST:
            return None
        changes.append((op, list(dict.fromkeys(ids))))
    return changes


def _add_members_whole(
    session: Session, client: ScimClient, group_id: str, ids: list[uuid.UUID]
) -> GroupRow:
    """The commonest PATCH (add members, no If-Match) on PostgreSQL in one statement (see
    ``queries.PG_ADD_MEMBERS_WHOLE``): the same rows, versions and audit event as the general
    path, which answers every other shape."""
    parsed = _parse_id(group_id)
    row = None
    if parsed is not None:
        # The request's last statement: its unit of work may send the COMMIT with it, so the
        # group's row (every member add bumps its version) is locked for the shortest time.
        row = commit_with_last.execute_last(
            session,
            q.PG_ADD_MEMBERS_WHOLE,
            {
                "t_id": client.tenant_id,
                "g_id": parsed,
                "u_ids": ids,
                "now": _now(),
                "a_id": uuid.uuid4(),
                "a_actor_type": client.actor.type,
                "a_actor_id": client.actor.id,
                "a_actor_label": client.actor.label,
            },
        )
    if row is None:
        raise NotFoundException(detail=f"Group {group_id} not found")
    _refuse_missing(ids, set(row.found or ()))  # the request fails; nothing was written
    return GroupRow(
        row.id, row.display_name, row.external_id, row.version, row.created_at, row.updated_at
    )


def patch_group(
    session: Session,
    client: ScimClient,
    group_id: str,
    payload: dict[str, Any],
    if_match: str | None,
) -> GroupRow:
    """Apply a PATCH to a group: members as row changes, other attributes via scim2-models."""
    plain = member_changes_only(payload)
    if (
        plain is not None
        and len(plain) == 1
        and plain[0][0] == "add"
        and len(plain[0][1]) <= 1000
        and if_match is None
        and _is_postgresql(session)
    ):
        return _add_members_whole(session, client, group_id, plain[0][1])
    group = _group_row(session, client, group_id)
    check_if_match(if_match, group.version)
    if plain is not None:
        members = Membership(session, client.tenant_id, group.id)
        for op, ids in plain:
            if op == "add":
                members.add(ids)
            else:
                members.remove(ids)
        return _finish_group_change(
            session,
            client,
            group,
            display_name=group.display_name,
            external_id=group.external_id,
            members=members,
            if_match=if_match,
        )
    patch: PatchOp[ScimGroup] = PatchOp[ScimGroup].model_validate(
        _normalise_patch(payload, client),
        scim_ctx=Context.RESOURCE_PATCH_REQUEST,
        scim_policy=POLICY,
    )
    members = Membership(session, client.tenant_id, group.id)
    attributes = _GroupAttributes(group)
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
                attributes.patch(op, None, others)
            continue
        binding = operation.path.resolve()
        if binding is None or binding.field_name != "members":
            attributes.patch(op, str(operation.path), operation.value)
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
            schema = group_filter_schema(client.tenant_id)
            collection = schema.collections[GROUP_URN.lower() + ":members"]
            members.remove_matching(
                filters.rows_matching(
                    collection, value_filter, prefix=f"{GROUP_URN}:members", schema=schema
                )
            )
        else:
            members.remove_all()
    display_name, external_id = attributes.result()
    return _finish_group_change(
        session,
        client,
        group,
        display_name=display_name,
        external_id=external_id,
        members=members,
        if_match=if_match,
    )


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
    _touch_users(session, client.tenant_id, member_ids)
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
