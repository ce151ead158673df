"""sortBy on multi-valued attributes (RFC 7644 §3.4.2.3): a user sorts by its primary e-mail,
else its first e-mail as stored, case-insensitively; users without e-mails sort last ascending
and first descending. Group members have no such value: sorting on them is refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.scim.service import user_filter_schema
from okr_core.models import User, UserEmail
from okr_core.tenancy import tenant_context
from tests.okr_api.scim.conftest import (
    BASE,
    USER_SCHEMA,
    ScimTenant,
    assert_scim_error,
    create_group,
    create_user,
)


def email(value: str, *, primary: bool = False, type: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": value, "primary": primary}
    if type is not None:
        entry["type"] = type
    return entry


def add_user(client: TestClient, name: str, *emails: dict[str, Any]) -> str:
    """A user called ``name`` (no '@', so its login e-mail comes from ``emails``); its id."""
    return str(create_user(client, name, emails=list(emails))["id"])


def user_names(client: TestClient, **params: Any) -> list[str]:
    response = client.get(f"{BASE}/Users", params=params)
    assert response.status_code == 200, response.text
    return [r["userName"] for r in response.json()["Resources"]]


def test_emails_sort_ascending_and_descending(scim: TestClient) -> None:
    # Created in an order that is neither the e-mails' nor the names' order.
    add_user(scim, "u1", email("carol@example.com", primary=True))
    add_user(scim, "u2", email("alice@example.com", primary=True))
    add_user(scim, "u3", email("bob@example.com", primary=True))
    assert user_names(scim, sortBy="emails.value") == ["u2", "u3", "u1"]
    assert user_names(scim, sortBy="emails.value", sortOrder="descending") == ["u1", "u3", "u2"]
    # The attribute itself means its value; the full URN and any case are the same path.
    assert user_names(scim, sortBy="emails") == ["u2", "u3", "u1"]
    assert user_names(scim, sortBy=f"{USER_SCHEMA}:Emails.Value") == ["u2", "u3", "u1"]


def test_the_primary_email_beats_the_first(scim: TestClient) -> None:
    add_user(
        scim,
        "second-is-primary",
        email("aaa@example.com"),
        email("zzz@example.com", primary=True),
    )
    add_user(scim, "only-one", email("mmm@example.com", primary=True))
    # Sorted by zzz (the primary), not aaa (the first, and the smallest).
    assert user_names(scim, sortBy="emails") == ["only-one", "second-is-primary"]
    assert user_names(scim, sortBy="emails", sortOrder="descending") == [
        "second-is-primary",
        "only-one",
    ]


def test_the_first_email_counts_when_none_is_primary(scim: TestClient) -> None:
    add_user(scim, "first-is-largest", email("zzz@example.com"), email("aaa@example.com"))
    add_user(scim, "middle", email("mmm@example.com"))
    # Sorted by zzz (the first as stored), not aaa (the smallest).
    assert user_names(scim, sortBy="emails.value") == ["middle", "first-is-largest"]


def test_users_without_emails_sort_last_ascending_and_first_descending(scim: TestClient) -> None:
    add_user(scim, "b", email("b@example.com", primary=True))
    add_user(scim, "none")
    add_user(scim, "a", email("a@example.com", primary=True))
    assert user_names(scim, sortBy="emails") == ["a", "b", "none"]
    assert user_names(scim, sortBy="emails", sortOrder="descending") == ["none", "b", "a"]
    # The same rule for a single-valued attribute (ordered with NULLS FIRST/LAST too).
    create_user(scim, "has-ext", emails=[email("h@example.com")], externalId="x-1")
    assert user_names(scim, sortBy="externalId")[0] == "has-ext"
    assert user_names(scim, sortBy="externalId", sortOrder="descending")[-1] == "has-ext"


def test_email_sort_ignores_case(scim: TestClient) -> None:
    # Byte order would put "Zed", "MIA" and "Zeta" before every lower-case value. (Types
    # outside work/home/other: scim2-models lower-cases those canonical values itself.)
    add_user(scim, "zed", email("Zed@example.com", primary=True, type="Zeta"))
    add_user(scim, "adam", email("adam@example.com", primary=True, type="mid"))
    add_user(
        scim, "mia", email("MIA@example.com", type="alpha"), email("mia@x.example", type="Zzz")
    )
    assert user_names(scim, sortBy="emails.value") == ["adam", "mia", "zed"]
    # emails.type: the type of the primary e-mail, else of the first.
    assert user_names(scim, sortBy="emails.type") == ["mia", "adam", "zed"]
    assert user_names(scim, sortBy="emails.type", sortOrder="descending") == ["zed", "adam", "mia"]


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_paging_keeps_a_stable_order(scim: TestClient, order: str) -> None:
    # Three users tie (no e-mails): only the tie-break keeps pages from overlapping.
    for name, value in [
        ("n1", None),
        ("e-c", "c@example.com"),
        ("n2", None),
        ("e-a", "a@example.com"),
        ("n3", None),
        ("e-b", "b@example.com"),
    ]:
        add_user(scim, name, *([email(value, primary=True)] if value else []))
    whole = user_names(scim, sortBy="emails", sortOrder=order)
    pages: list[str] = []
    for start in (1, 3, 5):
        body = scim.get(
            f"{BASE}/Users",
            params={"sortBy": "emails", "sortOrder": order, "startIndex": start, "count": 2},
        ).json()
        assert body["totalResults"] == 6
        assert body["itemsPerPage"] == 2
        pages.extend(r["userName"] for r in body["Resources"])
    assert pages == whole
    with_emails = ["e-a", "e-b", "e-c"] if order == "ascending" else ["e-c", "e-b", "e-a"]
    if order == "ascending":
        assert whole[:3] == with_emails
        assert sorted(whole[3:]) == ["n1", "n2", "n3"]
    else:
        assert sorted(whole[:3]) == ["n1", "n2", "n3"]
        assert whole[3:] == with_emails
    assert user_names(scim, sortBy="emails", sortOrder=order) == whole  # and again


def test_search_endpoint_sorts_by_emails(scim: TestClient) -> None:
    add_user(scim, "u1", email("carol@example.com", primary=True))
    add_user(scim, "u2", email("zz@example.com"), email("alice@example.com", primary=True))
    add_user(scim, "u3", email("bob@example.com", primary=True))
    add_user(scim, "u4")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "sortBy": "emails.value",
        "sortOrder": "descending",
        "startIndex": 2,
        "count": 2,
    }
    response = scim.post(f"{BASE}/Users/.search", json=body)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["totalResults"] == 4
    assert [r["userName"] for r in page["Resources"]] == ["u1", "u3"]  # after u4 (no e-mail)
    body.pop("sortOrder")
    body["startIndex"] = 1
    ascending = scim.post(f"{BASE}/Users/.search", json=body).json()["Resources"]
    assert [r["userName"] for r in ascending] == ["u2", "u3"]


@pytest.mark.parametrize("sort_by", ["members", "members.value", "members.display"])
def test_groups_cannot_be_sorted_by_members(scim: TestClient, sort_by: str) -> None:
    create_group(scim, "Finance", [add_user(scim, "u1", email("a@example.com"))])
    for response in (
        scim.get(f"{BASE}/Groups", params={"sortBy": sort_by}),
        scim.post(
            f"{BASE}/Groups/.search",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "sortBy": sort_by,
            },
        ),
    ):
        detail = assert_scim_error(response, 400, "invalidValue")["detail"]
        assert f"cannot sort on '{sort_by}'" in detail
        assert "no primary value and no stored order" in detail
        sortable = detail.split("sortable attributes: ", 1)[1].split(", ")
        assert "displayName" in sortable
        assert not any(name.startswith("members") for name in sortable)
    # Sorting on the group's own attributes still works.
    assert scim.get(f"{BASE}/Groups", params={"sortBy": "displayName"}).status_code == 200


@pytest.mark.parametrize("sort_by", ["emails.display", "emails.primary", "groups", "nickName"])
def test_the_400_lists_what_is_sortable_and_all_of_it_is(scim: TestClient, sort_by: str) -> None:
    add_user(scim, "u1", email("a@example.com", primary=True))
    response = scim.get(f"{BASE}/Users", params={"sortBy": sort_by})
    detail = assert_scim_error(response, 400, "invalidValue")["detail"]
    sortable = detail.split("sortable attributes: ", 1)[1].split(", ")
    assert {"emails", "emails.value", "emails.type", "userName", "meta.created"} <= set(sortable)
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" in sortable
    assert sort_by not in sortable
    if sort_by == "groups":
        assert "a user's groups have no primary value and no stored order" in detail
    assert "groups.value" not in sortable
    for name in sortable:
        assert scim.get(f"{BASE}/Users", params={"sortBy": name}).status_code == 200, name


def test_other_tenants_emails_never_show_up_or_reorder(
    scim_client_for: Callable[[ScimTenant], TestClient], scim_a: ScimTenant, scim_b: ScimTenant
) -> None:
    a, b = scim_client_for(scim_a), scim_client_for(scim_b)
    add_user(a, "a-c", email("c@example.com", primary=True))
    add_user(a, "a-a", email("a@example.com", primary=True))
    # B's e-mails would fall between and around A's; one B user shares A's user name.
    add_user(b, "b-b", email("b@example.com", primary=True))
    add_user(b, "a-a", email("0@example.com", primary=True))
    add_user(b, "b-none")
    assert user_names(a, sortBy="emails") == ["a-a", "a-c"]
    assert user_names(a, sortBy="emails", sortOrder="descending") == ["a-c", "a-a"]
    assert user_names(b, sortBy="emails") == ["a-a", "b-b", "b-none"]


def test_an_email_row_of_another_tenant_is_not_a_users_sort_value(
    scim_client_for: Callable[[ScimTenant], TestClient],
    scim_a: ScimTenant,
    scim_b: ScimTenant,
    session: Session,
) -> None:
    """A row that names A's user but belongs to B (it cannot come from SCIM) would be A's
    primary e-mail if the sort value's subquery did not name the tenant."""
    a = scim_client_for(scim_a)
    zed = uuid.UUID(add_user(a, "zed", email("zed@example.com", primary=True)))
    mia = uuid.UUID(add_user(a, "mia", email("mia@example.com", primary=True)))
    with tenant_context(session, scim_b.tenant.id):
        session.add(
            UserEmail(
                tenant_id=scim_b.tenant.id,
                user_id=zed,
                position=-1,  # before, and as primary as, zed's own e-mail
                value="AAA@example.com",
                value_key="aaa@example.com",
                primary=True,
            )
        )
        session.flush()
    assert user_names(a, sortBy="emails") == ["mia", "zed"]
    # Read without the ORM's tenant criteria (and, on SQLite, without row-level security):
    # only the subquery's own tenant condition keeps B's row out.
    key = user_filter_schema(scim_a.tenant.id).sort_key(f"{USER_SCHEMA}:emails", "emails")
    stmt = select(User.id, key).where(User.id.in_([zed, mia]))
    with tenant_context(session, scim_a.tenant.id):
        rows = session.connection().execute(stmt).all()
    assert dict(rows) == {mia: "mia@example.com", zed: "zed@example.com"}
