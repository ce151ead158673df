"""Replays of what Okta sends: the OIN "SCIM 2.0 SPEC Test" and runtime provisioning.

Okta creates with GET-filter-then-POST, updates profiles with a full PUT, (de)activates with
a path-less PATCH, never deletes users, and pushes groups with rename-on-every-update PATCHes.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.okr_api.scim.conftest import BASE, LIST_SCHEMA, PATCH_SCHEMA, assert_scim_error

OKTA_USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "isabella.lee@example.com",
    "name": {"givenName": "Isabella", "familyName": "Lee"},
    "emails": [{"primary": True, "value": "isabella.lee@example.com", "type": "work"}],
    "displayName": "Isabella Lee",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}
OKTA_HEADERS = {"User-Agent": "Okta SCIM Client 1.0.0", "Content-Type": "application/json"}


def _okta_create(scim: TestClient) -> dict[str, Any]:
    lookup = scim.get(
        f"{BASE}/Users",
        params={"filter": 'userName eq "isabella.lee@example.com"', "startIndex": 1, "count": 100},
        headers=OKTA_HEADERS,
    )
    assert lookup.status_code == 200
    assert lookup.json() == {
        "schemas": [LIST_SCHEMA],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    created = scim.post(f"{BASE}/Users", json=OKTA_USER, headers=OKTA_HEADERS)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def test_okta_spec_test_sequence(scim: TestClient) -> None:
    user = _okta_create(scim)
    # 1. GET /Users?count=1&startIndex=1: numbers, and the fields Okta reads.
    page = scim.get(f"{BASE}/Users", params={"count": 1, "startIndex": 1}, headers=OKTA_HEADERS)
    assert page.status_code == 200
    body = page.json()
    assert body["schemas"] == [LIST_SCHEMA]
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (1, 1, 1)
    first = body["Resources"][0]
    assert first["id"] == user["id"]
    assert first["name"] == {"givenName": "Isabella", "familyName": "Lee"}
    assert first["userName"] == "isabella.lee@example.com"
    assert first["active"] is True
    assert first["emails"][0]["value"] == "isabella.lee@example.com"
    assert "password" not in first
    # 2. GET by id: the same fields.
    by_id = scim.get(f"{BASE}/Users/{user['id']}", headers=OKTA_HEADERS)
    assert by_id.status_code == 200
    assert by_id.json() == first
    # 3. Unknown userName and random e-mail: 200 with an empty list.
    for expression in ('userName eq "nobody@example.com"', 'emails.value eq "x1y2@example.com"'):
        empty = scim.get(f"{BASE}/Users", params={"filter": expression}, headers=OKTA_HEADERS)
        assert empty.status_code == 200
        assert empty.json()["totalResults"] == 0
    # 4/10. Unknown ids: 404 with the Error schema and a string status.
    for missing in (str(uuid.uuid4()), "00919288221112222"):
        assert_scim_error(scim.get(f"{BASE}/Users/{missing}", headers=OKTA_HEADERS), 404)
    # 5. The create answered 201 with active true and the names echoed (application/json in).
    assert user["active"] is True
    assert user["name"] == {"givenName": "Isabella", "familyName": "Lee"}
    assert "password" not in user
    assert "groups" not in user
    # 6. The same POST again: 409.
    again = scim.post(f"{BASE}/Users", json=OKTA_USER, headers=OKTA_HEADERS)
    assert_scim_error(again, 409, "uniqueness")
    # 7. userName is caseExact false.
    upper = scim.get(
        f"{BASE}/Users",
        params={"filter": 'userName eq "ISABELLA.LEE@EXAMPLE.COM"'},
        headers=OKTA_HEADERS,
    )
    assert upper.status_code == 200
    assert upper.json()["totalResults"] == 1
    # 8. GET /Groups answers.
    groups = scim.get(f"{BASE}/Groups", headers=OKTA_HEADERS)
    assert groups.status_code == 200
    assert groups.json()["totalResults"] == 0
    # 9. A non-token Authorization header: 401 with detail and status "401".
    denied = scim.get(f"{BASE}/Users", headers={"Authorization": "non-token"})
    assert_scim_error(denied, 401)
    assert denied.headers["WWW-Authenticate"].startswith("Bearer")


def test_okta_profile_update_by_full_put(scim: TestClient) -> None:
    user = _okta_create(scim)
    current = scim.get(f"{BASE}/Users/{user['id']}").json()
    current["name"]["familyName"] = "Lee-Smith"
    current["displayName"] = "Isabella Lee-Smith"
    replaced = scim.put(f"{BASE}/Users/{user['id']}", json=current, headers=OKTA_HEADERS)
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["name"]["familyName"] == "Lee-Smith"
    assert body["displayName"] == "Isabella Lee-Smith"
    assert body["active"] is True
    assert body["meta"]["version"] != user["meta"]["version"]


def test_okta_deactivate_and_reactivate_with_pathless_patch(scim: TestClient) -> None:
    user = _okta_create(scim)
    for active in (False, True):
        body = {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "value": {"active": active}}],
        }
        response = scim.patch(f"{BASE}/Users/{user['id']}", json=body, headers=OKTA_HEADERS)
        assert response.status_code == 200, response.text
        assert response.json()["active"] is active
        assert response.json()["id"] == user["id"]


def test_okta_put_without_active_suspends_the_user(scim: TestClient) -> None:
    user = _okta_create(scim)
    current = scim.get(f"{BASE}/Users/{user['id']}").json()
    del current["active"]
    response = scim.put(f"{BASE}/Users/{user['id']}", json=current, headers=OKTA_HEADERS)
    assert response.status_code == 200
    assert response.json()["active"] is False


def test_okta_group_push(scim: TestClient) -> None:
    user = _okta_create(scim)
    created = scim.post(
        f"{BASE}/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Test SCIMv2",
            "members": [],
        },
        headers=OKTA_HEADERS,
    )
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["displayName"] == "Test SCIMv2"
    assert "members" not in group
    # Membership update: rename (sent on every update) plus remove-by-filter plus add.
    second = scim.post(
        f"{BASE}/Users",
        json={
            **OKTA_USER,
            "userName": "eric@example.com",
            "emails": [{"value": "eric@example.com"}],
            "externalId": "00u2",
        },
    ).json()
    update = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "replace", "value": {"id": group["id"], "displayName": "Test SCIMv2"}},
            {"op": "remove", "path": f'members[value eq "{second["id"]}"]'},
            {
                "op": "add",
                "path": "members",
                "value": [{"value": user["id"], "display": "isabella.lee@example.com"}],
            },
        ],
    }
    response = scim.patch(f"{BASE}/Groups/{group['id']}", json=update, headers=OKTA_HEADERS)
    assert response.status_code == 204, response.text
    members = scim.get(f"{BASE}/Groups/{group['id']}").json()["members"]
    assert [m["value"] for m in members] == [user["id"]]
    # Rename.
    rename = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "value": {"id": group["id"], "displayName": "Renamed"}}],
    }
    assert scim.patch(f"{BASE}/Groups/{group['id']}", json=rename).status_code == 204
    fetched = scim.get(f"{BASE}/Groups/{group['id']}").json()
    assert fetched["displayName"] == "Renamed"
    assert [m["value"] for m in fetched["members"]] == [user["id"]]
    # Full replace of members.
    replace = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "members", "value": [{"value": second["id"]}]}],
    }
    assert scim.patch(f"{BASE}/Groups/{group['id']}", json=replace).status_code == 204
    fetched = scim.get(f"{BASE}/Groups/{group['id']}").json()
    assert [m["value"] for m in fetched["members"]] == [second["id"]]
    # Unlink with delete.
    assert scim.delete(f"{BASE}/Groups/{group['id']}").status_code == 204
    assert_scim_error(scim.get(f"{BASE}/Groups/{group['id']}"), 404)
