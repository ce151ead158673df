"""The SQL of SCIM's hot paths (create a user, create a group, change a group's members).

SQLAlchemy Core statements, built once at import and executed on the request session's
connection, so a request pays neither the ORM's unit of work nor statement compilation (each
statement's cache key is memoised on the object). They run inside the request's transaction,
where ``okr.tenant_id`` is already set for row-level security, and every one of them also names
the tenant explicitly (``t_id``): the ORM's automatic tenant criteria do not apply to Core.

The two commonest requests on PostgreSQL (create a user, add members) are hand-written SQL, one
statement each with data-modifying ``WITH`` clauses: one round trip per request, and short
enough, with few enough parameters, for psycopg to cache their conversion.

Parameter names never repeat a column name: an UPDATE reserves those for its SET clause.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Table,
    TextClause,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from okr_core.audit import EVENTS
from okr_core.models import SCIM_PROVIDER, Group, GroupMembership, IdentityLink, User, UserEmail

USERS = cast(Table, User.__table__)
LINKS = cast(Table, IdentityLink.__table__)
EMAILS = cast(Table, UserEmail.__table__)
GROUPS = cast(Table, Group.__table__)
MEMBERS = cast(Table, GroupMembership.__table__)

# Who holds a userName (any provisioned user, deleted ones too) and a login e-mail (any
# user): two index look-ups in one round trip. Params: t_id, name_key, email.
HOLDERS = select(
    select(LINKS.c.user_id)
    .where(
        LINKS.c.tenant_id == bindparam("t_id"),
        LINKS.c.provider == SCIM_PROVIDER,
        LINKS.c.user_name_key == bindparam("name_key"),
    )
    .limit(1)
    .scalar_subquery()
    .label("by_name"),
    select(USERS.c.id)
    .where(USERS.c.tenant_id == bindparam("t_id"), USERS.c.email == bindparam("email"))
    .limit(1)
    .scalar_subquery()
    .label("by_email"),
)

INSERT_USER = insert(USERS)
INSERT_LINK = insert(LINKS)
INSERT_EMAIL = insert(EMAILS)
INSERT_GROUP = insert(GROUPS)
INSERT_MEMBER = insert(MEMBERS)
INSERT_EVENT = insert(EVENTS)

# A group's row as SCIM shows it. Params: t_id, g_id.
GROUP_ROW = select(
    GROUPS.c.id,
    GROUPS.c.display_name,
    GROUPS.c.external_id,
    GROUPS.c.version,
    GROUPS.c.created_at,
    GROUPS.c.updated_at,
).where(GROUPS.c.id == bindparam("g_id"), GROUPS.c.tenant_id == bindparam("t_id"))

# Another group with this display name (case-insensitive). Params: t_id, name_key.
GROUP_NAME_HOLDER = (
    select(GROUPS.c.id)
    .where(
        GROUPS.c.tenant_id == bindparam("t_id"),
        func.lower(GROUPS.c.display_name) == bindparam("name_key"),
    )
    .limit(1)
)

# The group's new name, external id and version; last in a request, so the row lock it takes
# is held only until the commit. Params: t_id, g_id, name, ext, now.
_BUMP = (
    update(GROUPS)
    .values(
        display_name=bindparam("name"),
        external_id=bindparam("ext"),
        version=GROUPS.c.version + 1,
        updated_at=bindparam("now"),
    )
    .returning(GROUPS.c.version, GROUPS.c.created_at, GROUPS.c.updated_at)
)
BUMP_GROUP = _BUMP.where(GROUPS.c.id == bindparam("g_id"), GROUPS.c.tenant_id == bindparam("t_id"))
# The same, only if nobody changed the group since the client's If-Match was checked
# (param seen: the version checked).
BUMP_GROUP_IF_UNCHANGED = _BUMP.where(
    GROUPS.c.id == bindparam("g_id"),
    GROUPS.c.tenant_id == bindparam("t_id"),
    GROUPS.c.version == bindparam("seen"),
)

# Which of these ids are provisioned users, and which of them are already members: one
# index-only probe per id. Params: t_id, g_id, u_ids (a list).
USERS_AND_MEMBERSHIP = (
    select(LINKS.c.user_id, MEMBERS.c.user_id.label("member"))
    .select_from(
        LINKS.outerjoin(
            MEMBERS,
            and_(
                MEMBERS.c.user_id == LINKS.c.user_id,
                MEMBERS.c.group_id == bindparam("g_id"),
                MEMBERS.c.tenant_id == bindparam("t_id"),
            ),
        )
    )
    .where(
        LINKS.c.tenant_id == bindparam("t_id"),
        LINKS.c.provider == SCIM_PROVIDER,
        LINKS.c.deleted_at.is_(None),
        LINKS.c.user_id.in_(bindparam("u_ids", expanding=True)),
    )
)

# Provisioned users among these ids. Params: t_id, u_ids.
PROVISIONED = select(LINKS.c.user_id).where(
    LINKS.c.tenant_id == bindparam("t_id"),
    LINKS.c.provider == SCIM_PROVIDER,
    LINKS.c.deleted_at.is_(None),
    LINKS.c.user_id.in_(bindparam("u_ids", expanding=True)),
)

# Every member of a group. Params: t_id, g_id.
MEMBER_IDS = select(MEMBERS.c.user_id).where(
    MEMBERS.c.tenant_id == bindparam("t_id"), MEMBERS.c.group_id == bindparam("g_id")
)

# Remove these members; returns the ids that were members. Params: t_id, g_id, u_ids.
DELETE_MEMBERS = (
    delete(MEMBERS)
    .where(
        MEMBERS.c.tenant_id == bindparam("t_id"),
        MEMBERS.c.group_id == bindparam("g_id"),
        MEMBERS.c.user_id.in_(bindparam("u_ids", expanding=True)),
    )
    .returning(MEMBERS.c.user_id)
)

# A membership change changes the users' ``groups``: bump their SCIM versions.
# Params: t_id, u_ids, now.
TOUCH_USERS = (
    update(LINKS)
    .where(
        LINKS.c.tenant_id == bindparam("t_id"),
        LINKS.c.provider == SCIM_PROVIDER,
        LINKS.c.user_id.in_(bindparam("u_ids", expanding=True)),
    )
    .values(version=LINKS.c.version + 1, updated_at=bindparam("now"))
)

# Members with their display names, in the order SCIM lists them. Params: t_id, g_id.
MEMBERS_WITH_NAMES = (
    select(USERS.c.id, USERS.c.display_name)
    .select_from(MEMBERS.join(USERS, USERS.c.id == MEMBERS.c.user_id))
    .where(
        MEMBERS.c.tenant_id == bindparam("t_id"),
        MEMBERS.c.group_id == bindparam("g_id"),
        USERS.c.tenant_id == bindparam("t_id"),
    )
    .order_by(USERS.c.display_name, USERS.c.id)
)


# ---------------------------------------------------------------- PostgreSQL: one round trip
#
# PostgreSQL runs INSERT/UPDATE in WITH clauses, so on it a whole change (rows plus the audit
# event that describes them) is one statement. Foreign keys are checked at the end of the
# statement, so a link may refer to the user inserted beside it. Other dialects run the
# statements above one by one.


def _row_params(table: Table, prefix: str) -> dict[str, BindParameter[Any]]:
    """Every column of ``table`` as a typed parameter named ``<prefix><column>``."""
    return {c.name: bindparam(prefix + c.name, type_=c.type) for c in table.columns}


def params_for(prefix: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values as the parameters ``_row_params`` names."""
    return {prefix + name: value for name, value in row.items()}


# Who holds a userName (any provisioned user) and a login e-mail (any user), as HOLDERS.
HOLDERS_SQL = f"""
    SELECT
        (SELECT user_id FROM identity_links
         WHERE tenant_id = :t_id AND provider = '{SCIM_PROVIDER}' AND user_name_key = :name_key
         LIMIT 1) AS by_name,
        (SELECT id FROM users WHERE tenant_id = :t_id AND email = :email LIMIT 1) AS by_email
"""


def create_user_statement(holders_sql: str = HOLDERS_SQL) -> TextClause:
    """See ``PG_CREATE_USER``; ``holders_sql`` stands in for the look-up in tests of races."""
    return text(
        f"""
        WITH holders AS ({holders_sql}),
        new_user AS (
            INSERT INTO users
            SELECT r.* FROM json_populate_record(NULL::users, CAST(:user AS json)) r
            WHERE NOT EXISTS (
                SELECT 1 FROM holders WHERE by_name IS NOT NULL OR by_email IS NOT NULL
            )
            RETURNING id
        ),
        new_link AS (
            INSERT INTO identity_links
            SELECT r.* FROM new_user,
                json_populate_record(NULL::identity_links, CAST(:link AS json)) r
        ),
        new_emails AS (
            INSERT INTO user_emails
            SELECT r.* FROM new_user,
                json_populate_recordset(NULL::user_emails, CAST(:emails AS json)) r
        ),
        new_event AS (
            INSERT INTO audit_events
            SELECT r.* FROM new_user,
                json_populate_record(NULL::audit_events, CAST(:event AS json)) r
        )
        SELECT by_name, by_email FROM holders
        """
    )


def record_json(rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """Rows as ``json_populate_record(set)`` reads them: every column named (a missing one
    would be NULL, not its default), UUIDs and times as their ``str()``, which PostgreSQL reads
    exactly (times carry their UTC offset)."""
    return json.dumps(rows, default=str)


# Who holds the userName and the e-mail (as HOLDERS) and, only when nobody does, the new user,
# its identity link, its e-mails and its audit event: one statement, one round trip. Each row
# is one JSON parameter that PostgreSQL turns into the table's row type, so the statement stays
# short with few parameters: psycopg caches the conversion of statements under 4,096
# characters and 50 parameters, and the column-per-parameter form (53 parameters) was parsed
# again on every request. Params t_id, name_key, email; user, link, event (JSON objects) and
# emails (a JSON array, any length). When a holder is returned nothing was written.
PG_CREATE_USER = create_user_statement()

# A PATCH that only adds members (what Okta and Entra ID send per assignment), whole on
# PostgreSQL: the group's row as it was (none: 404), which of the ids are provisioned users
# (``found``), which of them became members now (``added``, request order), their versions
# and, when any was added, the group's version bumped and the audit event written as the
# general path writes it (``members_added``: the first 100 ids, ``members_added_count``). One
# round trip instead of three. Nothing is written unless every id is a provisioned user (the
# request then fails with nothing to undo: the statement may be committed as it is sent, see
# ``okr_core.db.commit_with_last``). Params t_id, g_id, u_ids (a list), now, and the event's
# a_id, a_actor_type, a_actor_id, a_actor_label.
PG_ADD_MEMBERS_WHOLE = text(
    f"""
    WITH g AS (
        SELECT id, display_name, external_id, version, created_at, updated_at
        FROM groups WHERE id = :g_id AND tenant_id = :t_id
    ),
    target AS (
        SELECT user_id FROM identity_links
        WHERE tenant_id = :t_id AND provider = '{SCIM_PROVIDER}' AND deleted_at IS NULL
          AND user_id = ANY(CAST(:u_ids AS uuid[])) AND EXISTS (SELECT 1 FROM g)
    ),
    added AS (
        INSERT INTO group_memberships (tenant_id, group_id, user_id)
        SELECT CAST(:t_id AS uuid), CAST(:g_id AS uuid), user_id FROM target
        WHERE (SELECT count(*) FROM target) = cardinality(
            ARRAY(SELECT DISTINCT unnest(CAST(:u_ids AS uuid[])))
        )
        ON CONFLICT DO NOTHING
        RETURNING user_id, array_position(CAST(:u_ids AS uuid[]), user_id) AS position
    ),
    touched AS (
        UPDATE identity_links SET version = version + 1, updated_at = :now
        WHERE tenant_id = :t_id AND provider = '{SCIM_PROVIDER}'
          AND user_id IN (SELECT user_id FROM added)
    ),
    bumped AS (
        UPDATE groups SET version = version + 1, updated_at = :now
        WHERE id = :g_id AND tenant_id = :t_id AND EXISTS (SELECT 1 FROM added)
        RETURNING version, updated_at
    ),
    event AS (
        INSERT INTO audit_events (id, tenant_id, actor_type, actor_id, actor_label, action,
                                  target_type, target_id, changes, occurred_at)
        SELECT :a_id, :t_id, :a_actor_type, :a_actor_id, :a_actor_label,
               'scim.group.members_changed', 'group', CAST(:g_id AS text),
               json_build_object(
                   'members_added',
                   (SELECT json_agg(CAST(user_id AS text) ORDER BY position)
                    FROM (SELECT user_id, position FROM added ORDER BY position LIMIT 100) a),
                   'members_added_count', (SELECT count(*) FROM added)
               ),
               :now
        FROM bumped
    )
    SELECT g.id, g.display_name, g.external_id,
           coalesce((SELECT version FROM bumped), g.version) AS version,
           g.created_at,
           coalesce((SELECT updated_at FROM bumped), g.updated_at) AS updated_at,
           (SELECT array_agg(user_id) FROM target) AS found,
           (SELECT array_agg(user_id ORDER BY position) FROM added) AS added
    FROM g
    """
)


_TARGET = (
    select(LINKS.c.user_id)
    .where(
        LINKS.c.tenant_id == bindparam("t_id"),
        LINKS.c.provider == SCIM_PROVIDER,
        LINKS.c.deleted_at.is_(None),
        LINKS.c.user_id.in_(bindparam("u_ids", expanding=True)),
    )
    .cte("target")
)
_ADDED = (
    pg_insert(MEMBERS)
    .from_select(
        ["tenant_id", "group_id", "user_id"],
        select(
            bindparam("t_id", type_=MEMBERS.c.tenant_id.type),
            bindparam("g_id", type_=MEMBERS.c.group_id.type),
            _TARGET.c.user_id,
        ),
    )
    .on_conflict_do_nothing()
    .returning(MEMBERS.c.user_id)
    .cte("added")
)
_TOUCHED = (
    update(LINKS)
    .where(
        LINKS.c.tenant_id == bindparam("t_id"),
        LINKS.c.provider == SCIM_PROVIDER,
        LINKS.c.user_id.in_(select(_ADDED.c.user_id)),
    )
    .values(version=LINKS.c.version + 1, updated_at=bindparam("now"))
    .cte("touched")
)
# Add members: which ids are provisioned users (user_id) and which of them became members now
# (added; null for those that already were), their versions bumped. A concurrent add of the
# same member is no conflict. Params: t_id, g_id, u_ids, now.
PG_ADD_MEMBERS = (
    select(_TARGET.c.user_id, _ADDED.c.user_id.label("added"))
    .select_from(_TARGET.outerjoin(_ADDED, _ADDED.c.user_id == _TARGET.c.user_id))
    .add_cte(_TOUCHED)
)

_EVENT = insert(EVENTS).values(_row_params(EVENTS, "a_")).cte("new_event")
# The group's audit event and version bump together (params as BUMP_GROUP*, plus a_*).
PG_BUMP_GROUP = BUMP_GROUP.add_cte(_EVENT)
PG_BUMP_GROUP_IF_UNCHANGED = BUMP_GROUP_IF_UNCHANGED.add_cte(_EVENT)
# A new group and its audit event (params g_*, a_*).
PG_CREATE_GROUP = insert(GROUPS).values(_row_params(GROUPS, "g_")).add_cte(_EVENT)
