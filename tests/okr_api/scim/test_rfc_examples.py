"""RFC 7643 and RFC 7644 example payloads, each test named after the section it replays."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.okr_api.scim import rfc_examples as rfc
from tests.okr_api.scim.conftest import (
    BASE,
    ENTERPRISE,
    SCIM_MEDIA_TYPE,
    assert_scim_error,
    create_group,
    create_user,
    member_ids,
)


def _fill(payload: dict[str, Any], **values: str) -> dict[str, Any]:
    text = json.dumps(payload)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)  # type: ignore[no-any-return]


def _full_user(scim: TestClient) -> dict[str, Any]:
    manager = create_user(
        scim, "jsmith@example.com", name={"givenName": "John", "familyName": "Smith"}
    )
    body = copy.deepcopy(rfc.RFC7643_8_2_FULL_USER)
    extension = copy.deepcopy(rfc.RFC7643_8_3_ENTERPRISE_EXTENSION)
    extension["manager"]["value"] = manager["id"]
    body["schemas"] = [*body["schemas"], ENTERPRISE]
    body[ENTERPRISE] = extension
    response = scim.post(f"{BASE}/Users", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_rfc7643_8_1_minimal_user_is_created_with_server_assigned_id_and_meta(
    scim: TestClient,
) -> None:
    response = scim.post(f"{BASE}/Users", json=rfc.RFC7643_8_1_MINIMAL_USER)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(SCIM_MEDIA_TYPE)
    body = response.json()
    assert body["id"] != rfc.RFC7643_8_1_MINIMAL_USER["id"]
    assert body["userName"] == "bjensen@example.com"
    assert body["active"] is True
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["version"] == 'W/"1"'
    assert body["meta"]["location"] == f"https://okr.example.com{BASE}/Users/{body['id']}"
    assert response.headers["Location"] == body["meta"]["location"]
    assert response.headers["ETag"] == body["meta"]["version"]


def test_rfc7643_8_2_and_8_3_full_enterprise_user_round_trips(scim: TestClient) -> None:
    created = _full_user(scim)
    fetched = scim.get(f"{BASE}/Users/{created['id']}").json()
    assert fetched == created
    for key in (
        "externalId",
        "name",
        "displayName",
        "nickName",
        "addresses",
        "phoneNumbers",
        "ims",
        "photos",
        "userType",
        "title",
        "preferredLanguage",
        "locale",
        "timezone",
    ):
        assert fetched[key] == rfc.RFC7643_8_2_FULL_USER[key], key
    assert [e["value"] for e in fetched["emails"]] == ["bjensen@example.com", "babs@jensen.org"]
    extension = fetched[ENTERPRISE]
    assert extension["employeeNumber"] == "701984"
    assert extension["department"] == "Tour Operations"
    assert extension["manager"]["$ref"].endswith(f"/Users/{extension['manager']['value']}")
    assert ENTERPRISE in fetched["schemas"]


def test_rfc7643_8_4_group_with_members(scim: TestClient) -> None:
    babs = create_user(scim)
    body = copy.deepcopy(rfc.RFC7643_8_4_GROUP)
    body["members"] = [{"value": babs["id"], "$ref": "ignored", "display": "Babs Jensen"}]
    response = scim.post(f"{BASE}/Groups", json=body)
    assert response.status_code == 201, response.text
    group = response.json()
    assert group["displayName"] == "Tour Guides"
    assert group["members"] == [
        {
            "value": babs["id"],
            "$ref": f"https://okr.example.com{BASE}/Users/{babs['id']}",
            "type": "User",
            "display": "Barbara Jensen",
        }
    ]


def test_rfc7644_3_5_2_1_add_member(scim: TestClient) -> None:
    babs = create_user(scim)
    group = create_group(scim, "Tour Guides")
    body = _fill(rfc.RFC7644_3_5_2_1_ADD_MEMBER, id=babs["id"], ref=babs["meta"]["location"])
    response = scim.patch(f"{BASE}/Groups/{group['id']}", json=body)
    assert response.status_code == 204, response.text
    assert member_ids(scim, group["id"]) == {babs["id"]}


def test_rfc7644_3_5_2_1_add_without_path(scim: TestClient) -> None:
    babs = create_user(scim)
    response = scim.patch(f"{BASE}/Users/{babs['id']}", json=rfc.RFC7644_3_5_2_1_ADD_WITHOUT_PATH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["nickName"] == "Babs"
    assert {e["value"] for e in body["emails"]} == {"bjensen@example.com", "babs@jensen.org"}


def test_rfc7644_3_5_2_2_remove_one_member(scim: TestClient) -> None:
    babs = create_user(scim)
    james = create_user(scim, "jsmith@example.com")
    group = create_group(scim, "Tour Guides", [babs["id"], james["id"]])
    body = _fill(rfc.RFC7644_3_5_2_2_REMOVE_ONE_MEMBER, id=babs["id"])
    assert scim.patch(f"{BASE}/Groups/{group['id']}", json=body).status_code == 204
    assert member_ids(scim, group["id"]) == {james["id"]}


def test_rfc7644_3_5_2_2_remove_all_members(scim: TestClient) -> None:
    babs = create_user(scim)
    group = create_group(scim, "Tour Guides", [babs["id"]])
    response = scim.patch(
        f"{BASE}/Groups/{group['id']}", json=rfc.RFC7644_3_5_2_2_REMOVE_ALL_MEMBERS
    )
    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == set()


def test_rfc7644_3_5_2_2_remove_all_then_add(scim: TestClient) -> None:
    babs = create_user(scim)
    james = create_user(scim, "jsmith@example.com")
    group = create_group(scim, "Tour Guides", [babs["id"]])
    body = _fill(rfc.RFC7644_3_5_2_2_REMOVE_ALL_THEN_ADD, id=james["id"])
    assert scim.patch(f"{BASE}/Groups/{group['id']}", json=body).status_code == 204
    assert member_ids(scim, group["id"]) == {james["id"]}


def test_rfc7644_3_5_2_3_replace_members(scim: TestClient) -> None:
    babs = create_user(scim)
    james = create_user(scim, "jsmith@example.com")
    group = create_group(scim, "Tour Guides", [james["id"]])
    body = _fill(rfc.RFC7644_3_5_2_3_REPLACE_MEMBERS, id=babs["id"])
    assert scim.patch(f"{BASE}/Groups/{group['id']}", json=body).status_code == 204
    assert member_ids(scim, group["id"]) == {babs["id"]}


def test_rfc7644_3_5_2_3_replace_filtered_value_and_sub_attribute(scim: TestClient) -> None:
    babs = _full_user(scim)
    response = scim.patch(
        f"{BASE}/Users/{babs['id']}", json=rfc.RFC7644_3_5_2_3_REPLACE_WORK_ADDRESS
    )
    assert response.status_code == 200, response.text
    work = [a for a in response.json()["addresses"] if a["type"] == "work"]
    assert work[0]["streetAddress"] == "911 Universal City Plaza"
    response = scim.patch(f"{BASE}/Users/{babs['id']}", json=rfc.RFC7644_3_5_2_3_REPLACE_STREET)
    assert response.status_code == 200, response.text
    work = [a for a in response.json()["addresses"] if a["type"] == "work"]
    assert work[0]["streetAddress"] == "1010 Broadway Ave"
    home = [a for a in response.json()["addresses"] if a["type"] == "home"]
    assert home[0]["streetAddress"] == "456 Hollywood Blvd"


def test_rfc7644_3_5_2_3_replace_without_path(scim: TestClient) -> None:
    babs = _full_user(scim)
    response = scim.patch(
        f"{BASE}/Users/{babs['id']}", json=rfc.RFC7644_3_5_2_3_REPLACE_WITHOUT_PATH
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["nickName"] == "Babs"
    assert body["emails"] == [{"value": "bjensen@example.com", "type": "work", "primary": True}]


@pytest.mark.parametrize(("expression", "expected"), rfc.RFC7644_3_4_2_2_FILTERS)
def test_rfc7644_3_4_2_2_filter_examples(
    scim: TestClient, expression: str, expected: set[str]
) -> None:
    babs = _full_user(scim)  # also creates jsmith@example.com as the manager
    jsmith = scim.get(f"{BASE}/Users", params={"filter": 'userName eq "jsmith@example.com"'}).json()
    jsmith_id = jsmith["Resources"][0]["id"]
    patch = {
        "schemas": [rfc.PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert scim.patch(f"{BASE}/Users/{jsmith_id}", json=patch).status_code == 200
    names = {babs["id"]: "bjensen", jsmith_id: "jsmith"}
    response = scim.get(f"{BASE}/Users", params={"filter": expression})
    assert response.status_code == 200, response.text
    assert {names[r["id"]] for r in response.json()["Resources"]} == expected
    assert response.json()["totalResults"] == len(expected)


@pytest.mark.parametrize("expression", rfc.RFC7644_3_4_2_2_UNSUPPORTED_FILTERS)
def test_rfc7644_3_4_2_2_filters_on_unlisted_attributes_are_invalid_filter(
    scim: TestClient, expression: str
) -> None:
    body = assert_scim_error(
        scim.get(f"{BASE}/Users", params={"filter": expression}), 400, "invalidFilter"
    )
    assert "filterable attributes" in body["detail"]
