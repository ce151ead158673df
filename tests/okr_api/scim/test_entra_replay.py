"""Replays of what Microsoft Entra ID's provisioning service sends, in both dialects.

Without the ``aadOptscim062020`` flag Entra capitalises ``op``, sends booleans as strings and
removes members with a value list; with it, it sends RFC shapes and path-less replaces with
dotted keys. Both must work, and the member-removal trap must never empty a group.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.okr_api.scim.conftest import (
    BASE,
    ENTERPRISE,
    PATCH_SCHEMA,
    assert_scim_error,
    member_ids,
)

ENTRA_USER: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
    "active": True,
    "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
    ENTERPRISE: {"employeeNumber": "1234", "department": "Engineering"},
}
ENTRA_GROUP: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    ],
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "Group1DisplayName",
    "meta": {"resourceType": "Group"},
}


def _ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def test_entra_test_connection_gets_empty_lists(scim: TestClient) -> None:
    for endpoint, expression in (
        ("Users", f'userName eq "{uuid.uuid4()}"'),
        ("Groups", f'displayName eq "{uuid.uuid4()}"'),
    ):
        response = scim.get(f"{BASE}/{endpoint}", params={"filter": expression})
        assert response.status_code == 200
        assert response.json()["totalResults"] == 0
        assert response.headers["content-type"].startswith("application/scim+json")


def _create(scim: TestClient) -> dict[str, Any]:
    lookup = scim.get(f"{BASE}/Users", params={"filter": f'userName eq "{ENTRA_USER["userName"]}"'})
    assert lookup.json()["totalResults"] == 0
    response = scim.post(f"{BASE}/Users", json=ENTRA_USER)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_entra_user_lifecycle_default_dialect(scim: TestClient) -> None:
    user = _create(scim)
    assert user["externalId"] == ENTRA_USER["externalId"]
    assert user[ENTERPRISE]["employeeNumber"] == "1234"
    # Lookups Entra makes: by userName, by externalId, by the work e-mail value path.
    for expression in (
        f'userName eq "{ENTRA_USER["userName"]}"',
        f'externalId eq "{ENTRA_USER["externalId"]}"',
        'emails[type eq "work"].value eq "Test_User_fd0ea19b@contoso.com"',
    ):
        found = scim.get(f"{BASE}/Users", params={"filter": expression}).json()
        assert [r["id"] for r in found["Resources"]] == [user["id"]], expression
    update = _ops(
        {"op": "Replace", "path": "displayName", "value": "New Name"},
        {"op": "Add", "path": 'emails[type eq "home"].value', "value": "home@contoso.com"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "work2@contoso.com"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "5678"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": user["id"]},
        {"op": "Replace", "path": "name.givenName", "value": "Given"},
    )
    response = scim.patch(f"{BASE}/Users/{user['id']}", json=update)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["displayName"] == "New Name"
    assert {(e.get("type"), e["value"]) for e in body["emails"]} == {
        ("work", "work2@contoso.com"),
        ("home", "home@contoso.com"),
    }
    assert body[ENTERPRISE]["employeeNumber"] == "5678"
    assert body[ENTERPRISE]["manager"]["value"] == user["id"]
    assert body["name"]["givenName"] == "Given"
    # Disable with a string boolean; the user stays visible to GET and filters.
    disabled = scim.patch(
        f"{BASE}/Users/{user['id']}",
        json=_ops({"op": "Replace", "path": "active", "value": "False"}),
    )
    assert disabled.status_code == 200
    assert disabled.json()["active"] is False
    listed = scim.get(
        f"{BASE}/Users", params={"filter": f'externalId eq "{ENTRA_USER["externalId"]}"'}
    )
    assert listed.json()["Resources"][0]["active"] is False
    enabled = scim.patch(
        f"{BASE}/Users/{user['id']}",
        json=_ops({"op": "Replace", "path": "active", "value": "True"}),
    )
    assert enabled.json()["active"] is True
    # Hard delete 30 days later.
    assert scim.delete(f"{BASE}/Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"{BASE}/Users/{user['id']}"), 404)


def test_entra_user_update_with_the_rfc_dialect_flag(scim: TestClient) -> None:
    user = _create(scim)
    update = _ops(
        {
            "op": "replace",
            "value": {
                "displayName": "Flagged Name",
                "name.givenName": "Flag",
                "name.familyName": "Ged",
                f"{ENTERPRISE}:employeeNumber": "999",
                "active": False,
            },
        }
    )
    response = scim.patch(f"{BASE}/Users/{user['id']}", json=update)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["displayName"] == "Flagged Name"
    assert body["name"]["givenName"] == "Flag"
    assert body["name"]["familyName"] == "Ged"
    assert body[ENTERPRISE]["employeeNumber"] == "999"
    assert body["active"] is False


def _users(scim: TestClient, count: int) -> list[str]:
    ids = []
    for index in range(count):
        body = {
            **ENTRA_USER,
            "userName": f"member{index}@contoso.com",
            "emails": [{"type": "work", "value": f"member{index}@contoso.com"}],
            "externalId": f"ext-{index}",
        }
        response = scim.post(f"{BASE}/Users", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def test_entra_group_lifecycle_default_dialect(scim: TestClient) -> None:
    a, b, c = _users(scim, 3)
    lookup = scim.get(
        f"{BASE}/Groups",
        params={"filter": 'displayName eq "Group1DisplayName"', "excludedAttributes": "members"},
    )
    assert lookup.json()["totalResults"] == 0
    created = scim.post(f"{BASE}/Groups", json=ENTRA_GROUP)
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["externalId"] == ENTRA_GROUP["externalId"]
    gid = group["id"]
    add = _ops(
        {
            "op": "Add",
            "path": "members",
            "value": [
                {"$ref": None, "value": a},
                {"$ref": None, "value": b},
                {"$ref": None, "value": c},
            ],
        }
    )
    response = scim.patch(f"{BASE}/Groups/{gid}", json=add)
    assert response.status_code == 204
    assert response.content == b""
    assert member_ids(scim, gid) == {a, b, c}
    # The trap: a remove with a value list removes only the listed members.
    remove = _ops({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": a}]})
    assert scim.patch(f"{BASE}/Groups/{gid}", json=remove).status_code == 204
    assert member_ids(scim, gid) == {b, c}
    # An empty value list removes nobody.
    empty = _ops({"op": "Remove", "path": "members", "value": []})
    assert scim.patch(f"{BASE}/Groups/{gid}", json=empty).status_code == 204
    assert member_ids(scim, gid) == {b, c}
    # Excluding members on lookup, as Entra does.
    excluded = scim.get(
        f"{BASE}/Groups",
        params={"filter": 'displayName eq "Group1DisplayName"', "excludedAttributes": "members"},
    ).json()
    assert excluded["totalResults"] == 1
    assert "members" not in excluded["Resources"][0]
    # Rename.
    rename = _ops({"op": "Replace", "path": "displayName", "value": "Group1NewName"})
    assert scim.patch(f"{BASE}/Groups/{gid}", json=rename).status_code == 204
    assert scim.get(f"{BASE}/Groups/{gid}").json()["displayName"] == "Group1NewName"
    assert scim.delete(f"{BASE}/Groups/{gid}").status_code == 204
    assert_scim_error(scim.get(f"{BASE}/Groups/{gid}"), 404)


def test_entra_group_member_removal_with_the_rfc_dialect_flag(scim: TestClient) -> None:
    a, b = _users(scim, 2)
    gid = scim.post(f"{BASE}/Groups", json=ENTRA_GROUP).json()["id"]
    add = _ops({"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]})
    assert scim.patch(f"{BASE}/Groups/{gid}", json=add).status_code == 204
    remove = _ops({"op": "remove", "path": f'members[value eq "{a}"]'})
    assert scim.patch(f"{BASE}/Groups/{gid}", json=remove).status_code == 204
    assert member_ids(scim, gid) == {b}


def test_group_display_name_is_unique(scim: TestClient) -> None:
    assert scim.post(f"{BASE}/Groups", json=ENTRA_GROUP).status_code == 201
    clash = {**ENTRA_GROUP, "displayName": "group1displayname", "externalId": "other"}
    assert_scim_error(scim.post(f"{BASE}/Groups", json=clash), 409, "uniqueness")
