"""The provisioning hot paths (create a user, create a group, add or remove a member) write
with Core statements and answer from what they wrote; these tests hold them to what the
general paths do: the same representation as a read, 409 when the database catches a clash
that the check missed, audit events, versions, and the PATCH shapes read without scim2-models
meaning exactly what scim2-models would make of them."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from scim2_models import PreconditionFailedException
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.scim import queries, service
from okr_api.scim.auth import ScimClient
from okr_core.models import AuditEvent
from okr_core.tenancy import tenant_context
from tests.okr_api.scim.conftest import (
    BASE,
    ENTERPRISE,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    ScimTenant,
    assert_scim_error,
    create_group,
    create_user,
    member_ids,
    new_user,
    patch,
)

USER_PAYLOADS: dict[str, dict[str, Any]] = {
    "minimal": {"schemas": [USER_SCHEMA], "userName": "min@example.com"},
    "okta": new_user("okta@example.com", externalId="00u1", displayName="Okta Person"),
    "entra with enterprise extension": {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": "entra@contoso.com",
        "externalId": "0a21f0f2",
        "active": True,
        "name": {"formatted": "Given Family", "givenName": "Given", "familyName": "Family"},
        "emails": [{"primary": True, "type": "work", "value": "entra@contoso.com"}],
        ENTERPRISE: {"employeeNumber": "1234", "department": "Engineering"},
    },
    "three e-mails and a password": new_user(
        "many@example.com",
        emails=[
            {"value": "many@example.com", "type": "work", "primary": True},
            {"value": "home@example.com", "type": "home"},
            {"value": "other@example.com", "type": "other"},
        ],
        password="Secret-123!",
    ),
    "inactive, no e-mail": {"schemas": [USER_SCHEMA], "userName": "off", "active": False},
}


@pytest.mark.parametrize("kind", list(USER_PAYLOADS))
def test_a_created_user_is_answered_as_it_is_read(scim: TestClient, kind: str) -> None:
    response = scim.post(f"{BASE}/Users", json=USER_PAYLOADS[kind])
    assert response.status_code == 201, response.text
    created = response.json()
    read = scim.get(f"{BASE}/Users/{created['id']}")
    assert created == read.json()
    assert response.headers["ETag"] == read.headers["ETag"] == created["meta"]["version"]
    assert response.headers["Location"] == created["meta"]["location"]
    assert "password" not in created


def test_a_created_user_honours_attribute_selection(scim: TestClient) -> None:
    response = scim.post(
        f"{BASE}/Users", params={"attributes": "userName"}, json=new_user("sel@example.com")
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"schemas", "id", "userName"}


@pytest.mark.parametrize("with_members", [False, True])
def test_a_created_group_is_answered_as_it_is_read(scim: TestClient, with_members: bool) -> None:
    members = (
        [create_user(scim, f"m{i}@example.com")["id"] for i in range(2)] if with_members else []
    )
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": "Engineering",
        "externalId": "grp-1",
        "members": [{"value": m} for m in members],
    }
    response = scim.post(f"{BASE}/Groups", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == scim.get(f"{BASE}/Groups/{created['id']}").json()
    assert {m["value"] for m in created.get("members", [])} == set(members)


def test_a_clash_the_check_missed_is_409_not_500(
    scim: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two concurrent creates of one userName both pass the look-up; the unique constraint
    stops the second, and that is a SCIM uniqueness error. (On PostgreSQL the look-up is part
    of the create statement: it is replaced by one that finds nobody.)"""
    create_user(scim, "race@example.com")
    monkeypatch.setattr(service, "_holders", lambda *args: (None, None))
    nobody = "SELECT NULL::uuid AS by_name, NULL::uuid AS by_email"
    monkeypatch.setattr(queries, "PG_CREATE_USER", queries.create_user_statement(nobody))
    caught: list[Exception] = []
    explain = service._uniqueness_conflict

    def spy(*args: Any) -> Exception:
        caught.append(explain(*args))
        return caught[-1]

    monkeypatch.setattr(service, "_uniqueness_conflict", spy)
    same_name = new_user("RACE@example.com", emails=[{"value": "x@example.com"}])
    assert_scim_error(scim.post(f"{BASE}/Users", json=same_name), 409, "uniqueness")
    same_email = new_user("race2@example.com", emails=[{"value": "race@example.com"}])
    body = assert_scim_error(scim.post(f"{BASE}/Users", json=same_email), 409, "uniqueness")
    assert "e-mail" in body["detail"]
    assert len(caught) == 2  # both refused by the database's unique constraints
    # Nothing of the refused creates is left behind; the next create works.
    listed = scim.get(f"{BASE}/Users").json()
    assert [r["userName"] for r in listed["Resources"]] == ["race@example.com"]
    create_user(scim, "after@example.com")


def test_a_group_name_clash_the_check_missed_is_409(
    scim: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_group(scim, "Sales")
    monkeypatch.setattr(service, "_check_unique_group", lambda *args, **kwargs: None)
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Sales"}
    assert_scim_error(scim.post(f"{BASE}/Groups", json=body), 409, "uniqueness")


def _events(session: Session, tenant: ScimTenant, target: str) -> list[AuditEvent]:
    with tenant_context(session, tenant.tenant.id):
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.target_id == target)
                .order_by(AuditEvent.occurred_at)
            ).all()
        )


def test_user_creation_is_audited_without_personal_data_or_secrets(
    scim: TestClient, session: Session, scim_a: ScimTenant
) -> None:
    user = create_user(scim, "audit@example.com", password="Secret-123!")
    [event] = _events(session, scim_a, user["id"])
    assert event.action == "scim.user.created"
    assert event.actor_type == "scim_token"
    assert event.actor_id == str(scim_a.token_id)
    changes = event.changes
    assert changes["password"] == "[redacted]"
    assert changes["active"] is True
    assert changes["userName"]["to"].startswith("pseudonym:")
    assert "audit@example.com" not in str(changes)
    assert event.tenant_id == scim_a.tenant.id


def test_a_member_add_changes_one_row_two_versions_and_one_audit_event(
    scim: TestClient, session: Session, scim_a: ScimTenant
) -> None:
    user = create_user(scim)
    group = create_group(scim, "Eng")
    add = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
    first = patch(scim, f"/Groups/{group['id']}", add)
    assert first.status_code == 204
    assert first.headers["ETag"] == 'W/"2"'
    assert scim.get(f"{BASE}/Users/{user['id']}").json()["meta"]["version"] == 'W/"2"'
    again = patch(scim, f"/Groups/{group['id']}", add)  # already a member: nothing changes
    assert again.status_code == 204
    assert again.headers["ETag"] == 'W/"2"'
    events = _events(session, scim_a, group["id"])
    assert [e.action for e in events] == ["scim.group.created", "scim.group.members_changed"]
    assert events[1].changes == {"members_added": [user["id"]], "members_added_count": 1}
    assert member_ids(scim, group["id"]) == {user["id"]}


def test_an_unknown_member_fails_the_whole_patch(scim: TestClient) -> None:
    user = create_user(scim)
    group = create_group(scim, "Eng")
    add = {
        "op": "add",
        "path": "members",
        "value": [{"value": user["id"]}, {"value": str(uuid.uuid4())}],
    }
    assert_scim_error(patch(scim, f"/Groups/{group['id']}", add), 400, "invalidValue")
    assert member_ids(scim, group["id"]) == set()
    assert scim.get(f"{BASE}/Groups/{group['id']}").headers["ETag"] == group["meta"]["version"]


def _member_payload(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


A = "2819c223-7f76-453a-919d-413861904646"
B = "902c246b-6245-4190-8e05-00816be7344a"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            _member_payload({"op": "add", "path": "members", "value": [{"value": A}]}),
            [("add", [A])],
        ),
        (
            _member_payload(
                {"op": "Add", "path": "members", "value": [{"value": A, "display": "Ann"}]}
            ),
            [("add", [A])],
        ),
        (
            _member_payload({"op": "remove", "path": f'members[value eq "{A}"]'}),
            [("remove", [A])],
        ),
        (
            _member_payload(
                {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": B}]}
            ),
            [("remove", [B])],
        ),
        (
            _member_payload(
                {"op": "add", "path": "members", "value": [{"value": A}, {"value": A}]},
                {"op": "remove", "path": f'members[value eq "{B}"]'},
            ),
            [("add", [A]), ("remove", [B])],
        ),
    ],
)
def test_plain_member_patches_are_read_without_the_patch_engine(
    payload: dict[str, Any], expected: list[tuple[str, list[str]]]
) -> None:
    parsed = service.member_changes_only(payload)
    assert parsed == [(op, [uuid.UUID(i) for i in ids]) for op, ids in expected]


@pytest.mark.parametrize(
    "payload",
    [
        _member_payload({"op": "replace", "path": "members", "value": [{"value": A}]}),
        _member_payload({"op": "remove", "path": "members"}),
        _member_payload({"op": "add", "path": "members", "value": []}),
        _member_payload({"op": "add", "path": "members", "value": [{"value": "not-an-id"}]}),
        _member_payload({"op": "add", "path": "members", "value": [{"value": A, "type": "Group"}]}),
        _member_payload({"op": "add", "path": "displayName", "value": "x"}),
        _member_payload({"op": "add", "value": {"members": [{"value": A}]}}),
        _member_payload({"op": "remove", "path": f'members[value eq "{A}" or value eq "{B}"]'}),
        _member_payload({"op": "remove", "path": f'members[display eq "{A}"]'}),
        {"schemas": ["urn:example:other"], "Operations": [{"op": "add", "path": "members"}]},
        {"schemas": [PATCH_SCHEMA], "operations": []},
        {"schemas": [PATCH_SCHEMA], "Operations": []},
    ],
)
def test_anything_less_plain_goes_through_scim2_models(payload: dict[str, Any]) -> None:
    assert service.member_changes_only(payload) is None


def test_the_short_path_leaves_what_the_patch_engine_leaves(
    scim: TestClient, session: Session, scim_a: ScimTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [create_user(scim, f"u{i}@example.com")["id"] for i in range(4)]
    sequence = [
        {"op": "add", "path": "members", "value": [{"value": users[0]}, {"value": users[1]}]},
        {"op": "Add", "path": "members", "value": [{"value": users[2], "display": "Third"}]},
        {"op": "remove", "path": f'members[value eq "{users[0]}"]'},
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[3]}]},
        {"op": "add", "path": "members", "value": [{"value": users[1]}]},
    ]

    def run(group: dict[str, Any]) -> tuple[set[str], list[str], list[dict[str, Any]]]:
        etags = []
        for operation in sequence:
            response = patch(scim, f"/Groups/{group['id']}", operation)
            assert response.status_code == 204, response.text
            etags.append(response.headers["ETag"])
        changes = [e.changes for e in _events(session, scim_a, group["id"])[1:]]
        return member_ids(scim, group["id"]), etags, changes

    short = run(create_group(scim, "Short"))
    monkeypatch.setattr(service, "member_changes_only", lambda payload: None)
    engine = run(create_group(scim, "Engine"))
    assert short == engine
    assert short[0] == {users[1], users[2]}


def test_a_change_racing_an_if_match_is_412(
    scim: TestClient, session: Session, scim_a: ScimTenant
) -> None:
    """If-Match is checked when the request starts; should the group change before the
    version is bumped, the bump finds nothing and the request fails."""
    user = create_user(scim)
    group = create_group(scim, "Eng")
    client = ScimClient(scim_a.token_id, "Okta", scim_a.tenant.id, "https://okr.example.com")
    with tenant_context(session, scim_a.tenant.id):
        savepoint = session.begin_nested()
        row = service._group_row(session, client, group["id"])
        seen_earlier = dataclasses.replace(row, version=row.version - 1)
        members = service.Membership(session, scim_a.tenant.id, row.id)
        members.add([uuid.UUID(user["id"])])
        with pytest.raises(PreconditionFailedException):
            service._finish_group_change(
                session,
                client,
                seen_earlier,
                display_name=row.display_name,
                external_id=row.external_id,
                members=members,
                if_match='W/"0"',
            )
        savepoint.rollback()
    assert member_ids(scim, group["id"]) == set()
