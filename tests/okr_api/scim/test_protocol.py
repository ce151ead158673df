"""Protocol behaviour: errors and their scimType, ETags, media types, paging, sorting,
attribute selection, /.search, discovery. Bad input is always a 4xx SCIM error, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.okr_api.scim.conftest import (
    BASE,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    create_group,
    create_user,
    new_user,
    patch,
)


@pytest.mark.parametrize(
    ("expression", "scim_type"),
    [
        ("userName eq", "invalidFilter"),
        ('userName xx "a"', "invalidFilter"),
        ('emails[type eq "work"', "invalidFilter"),
        ('(userName eq "a"', "invalidFilter"),
        ('title eq "x"', "invalidFilter"),
        ("active gt true", "invalidFilter"),
        ('meta.created gt "yesterday"', "invalidFilter"),
        ('id co "1"', "invalidFilter"),
        ('unknownAttribute eq "x"', "invalidFilter"),
        (" or ".join(f'userName eq "u{i}"' for i in range(40)), None),
    ],
)
def test_bad_filters_are_invalid_filter(
    scim: TestClient, expression: str, scim_type: str | None
) -> None:
    response = scim.get(f"{BASE}/Users", params={"filter": expression})
    if scim_type is None:  # long but valid: answered
        assert response.status_code == 200
        return
    assert_scim_error(response, 400, scim_type)


def test_filter_operators_on_strings_and_case_rules(scim: TestClient) -> None:
    create_user(scim, "Alice.Smith@example.com", externalId="EXT-1")
    create_user(scim, "bob@example.org", externalId="ext-2")

    def names(expression: str) -> set[str]:
        response = scim.get(f"{BASE}/Users", params={"filter": expression})
        assert response.status_code == 200, response.text
        return {r["userName"] for r in response.json()["Resources"]}

    alice, bob = "Alice.Smith@example.com", "bob@example.org"
    assert names('userName co "SMITH"') == {alice}
    assert names('userName sw "alice."') == {alice}
    assert names('userName ew ".ORG"') == {bob}
    assert names('userName gt "b"') == {bob}
    assert names('userName ge "alice.smith@example.com"') == {alice, bob}
    assert names('userName lt "b"') == {alice}
    assert names('userName le "alice"') == set()
    assert names('externalId eq "EXT-1"') == {alice}
    assert names('externalId eq "ext-1"') == set()  # caseExact
    assert names('externalId sw "ext"') == {bob}
    assert names('externalId co "%"') == set()  # no LIKE wildcards leak through
    assert names('userName co "_"') == set()
    assert names('externalId pr and not (externalId ew "2")') == {alice}
    assert names('emails.value ne "bob@example.org"') == {alice}
    assert names("emails pr") == {alice, bob}
    assert names('emails[value ew "example.com" or primary eq false]') == {alice}


def test_paging_is_stable_and_counts_are_integers(scim: TestClient) -> None:
    for index in range(5):
        create_user(scim, f"user{index}@example.com")
    seen = []
    for start in (1, 3, 5):
        body = scim.get(f"{BASE}/Users", params={"startIndex": start, "count": 2}).json()
        assert body["totalResults"] == 5
        assert body["startIndex"] == start
        assert body["itemsPerPage"] == len(body["Resources"])
        seen.extend(r["userName"] for r in body["Resources"])
    assert seen == [f"user{i}@example.com" for i in range(5)]
    assert scim.get(f"{BASE}/Users", params={"count": 0}).json()["Resources"] == []
    assert scim.get(f"{BASE}/Users", params={"startIndex": 0, "count": 1}).json()["startIndex"] == 1
    assert_scim_error(scim.get(f"{BASE}/Users", params={"count": "many"}), 400, "invalidValue")


def test_sorting(scim: TestClient) -> None:
    for name in ("carol@example.com", "Alice@example.com", "bob@example.com"):
        create_user(scim, name, displayName=name.split("@")[0].title())
    ascending = scim.get(f"{BASE}/Users", params={"sortBy": "userName"}).json()["Resources"]
    assert [r["userName"] for r in ascending] == [
        "Alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    descending = scim.get(
        f"{BASE}/Users", params={"sortBy": "displayName", "sortOrder": "descending"}
    ).json()["Resources"]
    assert [r["displayName"] for r in descending] == ["Carol", "Bob", "Alice"]
    assert_scim_error(scim.get(f"{BASE}/Users", params={"sortBy": "nickName"}), 400, "invalidValue")
    assert_scim_error(
        scim.get(f"{BASE}/Users", params={"sortBy": "userName", "sortOrder": "up"}), 400
    )


def test_attributes_and_excluded_attributes(scim: TestClient) -> None:
    user = create_user(scim)
    only = scim.get(
        f"{BASE}/Users/{user['id']}", params={"attributes": "userName,name.givenName"}
    ).json()
    assert set(only) == {"schemas", "id", "userName", "name"}
    assert only["name"] == {"givenName": "Barbara"}
    without = scim.get(f"{BASE}/Users", params={"excludedAttributes": "emails,name"}).json()
    assert "emails" not in without["Resources"][0]
    assert "name" not in without["Resources"][0]
    assert without["Resources"][0]["userName"] == "bjensen@example.com"
    group = create_group(scim, "Eng", [user["id"]])
    slim = scim.get(f"{BASE}/Groups/{group['id']}", params={"excludedAttributes": "members"}).json()
    assert "members" not in slim
    assert slim["displayName"] == "Eng"


def test_search_endpoint(scim: TestClient) -> None:
    create_user(scim, "a@example.com")
    create_user(scim, "b@example.com")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "b"',
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    response = scim.post(f"{BASE}/Users/.search", json=body)
    assert response.status_code == 200, response.text
    assert [r["userName"] for r in response.json()["Resources"]] == ["b@example.com"]
    assert set(response.json()["Resources"][0]) == {"schemas", "id", "userName"}
    groups = scim.post(f"{BASE}/Groups/.search", json={"filter": 'displayName eq "none"'})
    assert groups.status_code == 200
    assert groups.json()["totalResults"] == 0
    bad = scim.post(f"{BASE}/Users/.search", json={"filter": "userName eq"})
    assert_scim_error(bad, 400, "invalidFilter")


def test_etags_and_if_match(scim: TestClient) -> None:
    user = create_user(scim)
    version = user["meta"]["version"]
    fetched = scim.get(f"{BASE}/Users/{user['id']}")
    assert fetched.headers["ETag"] == version
    assert (
        scim.get(f"{BASE}/Users/{user['id']}", headers={"If-None-Match": version}).status_code
        == 304
    )
    op = {"op": "replace", "path": "nickName", "value": "B"}
    ok = patch(scim, f"/Users/{user['id']}", op, headers={"If-Match": version})
    assert ok.status_code == 200
    assert ok.json()["meta"]["version"] != version
    stale = patch(scim, f"/Users/{user['id']}", op, headers={"If-Match": version})
    assert_scim_error(stale, 412)
    body = scim.get(f"{BASE}/Users/{user['id']}").json()
    assert_scim_error(
        scim.put(f"{BASE}/Users/{user['id']}", json=body, headers={"If-Match": version}), 412
    )
    assert (
        scim.put(f"{BASE}/Users/{user['id']}", json=body, headers={"If-Match": "*"}).status_code
        == 200
    )
    group = create_group(scim, "Eng")
    add = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
    response = patch(
        scim, f"/Groups/{group['id']}", add, headers={"If-Match": group["meta"]["version"]}
    )
    assert response.status_code == 204
    assert response.headers["ETag"] != group["meta"]["version"]
    assert_scim_error(
        scim.delete(f"{BASE}/Groups/{group['id']}", headers={"If-Match": group["meta"]["version"]}),
        412,
    )
    # A membership change changes the user's representation (its groups), hence its version.
    assert scim.get(f"{BASE}/Users/{user['id']}").json()["groups"][0]["value"] == group["id"]


def test_group_patch_returns_the_group_when_attributes_are_asked(scim: TestClient) -> None:
    group = create_group(scim, "Eng")
    response = scim.patch(
        f"{BASE}/Groups/{group['id']}",
        params={"attributes": "displayName"},
        json={
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "displayName", "value": "R&D"}],
        },
    )
    assert response.status_code == 200
    assert response.json()["displayName"] == "R&D"


def test_error_types(scim: TestClient) -> None:
    user = create_user(scim)
    uid = user["id"]
    # invalidSyntax: not JSON, not an object, no body.
    assert_scim_error(scim.post(f"{BASE}/Users", content=b"{not json"), 400, "invalidSyntax")
    assert_scim_error(scim.post(f"{BASE}/Users", content=b"[1, 2]"), 400, "invalidSyntax")
    assert_scim_error(scim.post(f"{BASE}/Users", content=b""), 400, "invalidSyntax")
    # invalidValue: missing required userName, wrong types, bad member ids, no Operations.
    assert_scim_error(
        scim.post(f"{BASE}/Users", json={"schemas": [USER_SCHEMA]}), 400, "invalidValue"
    )
    assert_scim_error(
        scim.post(f"{BASE}/Users", json=new_user("x@example.com", active="perhaps")),
        400,
        "invalidValue",
    )
    assert_scim_error(
        scim.post(f"{BASE}/Users", json=new_user("y@example.com", emails="nope")),
        400,
        "invalidValue",
    )
    assert_scim_error(
        scim.post(
            f"{BASE}/Groups",
            json={"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": "nope"}]},
        ),
        400,
        "invalidValue",
    )
    assert_scim_error(
        scim.patch(f"{BASE}/Users/{uid}", json={"schemas": [PATCH_SCHEMA]}), 400, "invalidValue"
    )
    assert_scim_error(
        patch(scim, f"/Users/{uid}", {"op": "explode", "path": "nickName", "value": "x"}),
        400,
        "invalidValue",
    )
    # uniqueness.
    assert_scim_error(
        scim.post(f"{BASE}/Users", json=new_user("BJENSEN@example.com")), 409, "uniqueness"
    )
    other = create_user(scim, "other@example.com")
    rename = {"op": "replace", "path": "userName", "value": "bjensen@example.com"}
    assert_scim_error(patch(scim, f"/Users/{other['id']}", rename), 409, "uniqueness")
    # mutability: read-only id, removing required userName, replacing an immutable member.
    assert_scim_error(
        patch(scim, f"/Users/{uid}", {"op": "replace", "path": "id", "value": "x"}),
        400,
        "mutability",
    )
    assert_scim_error(
        patch(scim, f"/Users/{uid}", {"op": "remove", "path": "userName"}), 400, "mutability"
    )
    group = create_group(scim, "Eng", [uid])
    assert_scim_error(
        patch(
            scim,
            f"/Groups/{group['id']}",
            {
                "op": "replace",
                "path": f'members[value eq "{uid}"]',
                "value": {"value": other["id"]},
            },
        ),
        400,
        "mutability",
    )
    # noTarget: remove without a path; replace on a filter matching nothing.
    assert_scim_error(patch(scim, f"/Users/{uid}", {"op": "remove"}), 400, "noTarget")
    assert_scim_error(
        patch(
            scim,
            f"/Users/{uid}",
            {"op": "replace", "path": 'addresses[type co "x"].region', "value": "y"},
        ),
        400,
        "noTarget",
    )
    # invalidPath.
    assert_scim_error(
        patch(scim, f"/Users/{uid}", {"op": "replace", "path": "not a path!", "value": 1}),
        400,
        "invalidPath",
    )
    # tooMany: more operations than we process in one request.
    many = [{"op": "replace", "path": "nickName", "value": str(i)} for i in range(1001)]
    assert_scim_error(patch(scim, f"/Users/{uid}", *many), 400, "tooMany")
    # 404, 405, 415, 413.
    assert_scim_error(scim.get(f"{BASE}/Users/not-a-uuid"), 404)
    assert_scim_error(scim.get(f"{BASE}/Widgets"), 404)
    assert_scim_error(scim.delete(f"{BASE}/Users"), 405)
    assert_scim_error(
        scim.post(f"{BASE}/Users", content=b"userName=x", headers={"Content-Type": "text/plain"}),
        415,
    )
    assert_scim_error(scim.post(f"{BASE}/Users", content=b" " * (1024 * 1024 + 1)), 413)
    # The user is untouched by all of the above.
    assert scim.get(f"{BASE}/Users/{uid}").json() == {
        **user,
        "groups": scim.get(f"{BASE}/Users/{uid}").json()["groups"],
        "meta": scim.get(f"{BASE}/Users/{uid}").json()["meta"],
    }


def test_discovery_tells_the_truth(scim: TestClient) -> None:
    config = scim.get(f"{BASE}/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True
    assert config["bulk"]["supported"] is False
    assert config["changePassword"]["supported"] is False
    assert config["filter"] == {"supported": True, "maxResults": 200}
    assert config["sort"]["supported"] is True
    assert config["etag"]["supported"] is True
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = {r["name"]: r for r in scim.get(f"{BASE}/ResourceTypes").json()["Resources"]}
    assert set(types) == {"User", "Group"}
    assert types["User"]["endpoint"] == "/Users"
    assert types["User"]["schemaExtensions"] == [
        {"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": False}
    ]
    assert scim.get(f"{BASE}/ResourceTypes/User").json()["name"] == "User"
    schemas = {s["id"] for s in scim.get(f"{BASE}/Schemas").json()["Resources"]}
    assert schemas == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    }
    group_schema = scim.get(f"{BASE}/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group").json()
    assert {a["name"] for a in group_schema["attributes"]} >= {"displayName", "members"}
    assert_scim_error(scim.get(f"{BASE}/Schemas/urn:nope"), 404)
