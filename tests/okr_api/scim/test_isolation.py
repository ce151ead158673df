"""Tenant isolation: a SCIM token sees and changes its own tenant only, filters cannot probe
another tenant, and a SCIM token opens nothing but /scim/v2."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.scim.auth import token_cache
from okr_core import scim_tokens
from okr_core.actors import Actor
from okr_core.tenancy import tenant_context
from tests.okr_api.scim.conftest import (
    BASE,
    ScimTenant,
    assert_scim_error,
    create_group,
    create_user,
    member_ids,
    patch,
)


def test_tokens_see_only_their_tenant(
    scim_client_for: Callable[[ScimTenant], TestClient], scim_a: ScimTenant, scim_b: ScimTenant
) -> None:
    a, b = scim_client_for(scim_a), scim_client_for(scim_b)
    alice = create_user(a, "alice@a.example.com", externalId="ext-alice")
    group_a = create_group(a, "Shared Name", [alice["id"]])
    bob = create_user(b, "bob@b.example.com")
    group_b = create_group(b, "Shared Name", [bob["id"]])  # same name, other tenant: fine
    # The same userName can exist in both tenants.
    create_user(b, "alice@a.example.com")

    assert {r["userName"] for r in a.get(f"{BASE}/Users").json()["Resources"]} == {
        "alice@a.example.com"
    }
    assert [g["id"] for g in a.get(f"{BASE}/Groups").json()["Resources"]] == [group_a["id"]]
    # Direct reads, writes and deletes of B's resources are 404 for A.
    assert_scim_error(a.get(f"{BASE}/Users/{bob['id']}"), 404)
    assert_scim_error(a.get(f"{BASE}/Groups/{group_b['id']}"), 404)
    assert_scim_error(
        patch(a, f"/Users/{bob['id']}", {"op": "replace", "path": "active", "value": False}), 404
    )
    assert_scim_error(a.put(f"{BASE}/Users/{bob['id']}", json={"userName": "x"}), 404)
    assert_scim_error(a.delete(f"{BASE}/Users/{bob['id']}"), 404)
    assert_scim_error(a.delete(f"{BASE}/Groups/{group_b['id']}"), 404)
    assert_scim_error(
        patch(a, f"/Groups/{group_b['id']}", {"op": "remove", "path": "members"}), 404
    )
    # A cannot put B's user into its own group.
    add = {"op": "add", "path": "members", "value": [{"value": bob["id"]}]}
    assert_scim_error(patch(a, f"/Groups/{group_a['id']}", add), 400, "invalidValue")
    # Nothing of B changed.
    assert b.get(f"{BASE}/Users/{bob['id']}").json()["active"] is True
    assert member_ids(b, group_b["id"]) == {bob["id"]}


def test_filters_cannot_probe_another_tenant(
    scim_client_for: Callable[[ScimTenant], TestClient], scim_a: ScimTenant, scim_b: ScimTenant
) -> None:
    a, b = scim_client_for(scim_a), scim_client_for(scim_b)
    create_user(a, "alice@a.example.com")
    bob = create_user(b, "bob@b.example.com", externalId="secret-ext")
    group_b = create_group(b, "Finance", [bob["id"]])
    probes = [
        f'id eq "{bob["id"]}"',
        'userName eq "bob@b.example.com"',
        'userName sw "b"',
        'externalId eq "secret-ext"',
        'emails.value co "b.example.com"',
        f'groups.value eq "{group_b["id"]}"',
        'userName pr and not (userName eq "alice@a.example.com")',
    ]
    for expression in probes:
        body = a.get(f"{BASE}/Users", params={"filter": expression}).json()
        assert body["totalResults"] == 0, expression
    for expression in (f'members.value eq "{bob["id"]}"', 'displayName eq "Finance"', "members pr"):
        body = a.get(f"{BASE}/Groups", params={"filter": expression}).json()
        assert body["totalResults"] == 0, expression


def test_a_scim_token_opens_nothing_but_scim(scim_a: ScimTenant, anonymous: TestClient) -> None:
    headers = {"Authorization": f"Bearer {scim_a.token}"}
    assert anonymous.get("/api/v1/session", headers=headers).status_code == 401
    assert anonymous.get("/api/v1/audit-events", headers=headers).status_code == 401
    assert anonymous.get("/api/v1/provisioning", headers=headers).status_code == 401


def test_revoked_and_malformed_tokens_are_refused(
    session: Session, scim_a: ScimTenant, scim: TestClient, anonymous: TestClient
) -> None:
    assert scim.get(f"{BASE}/Users").status_code == 200
    for header in ("Bearer okrscim_nope", "Bearer " + scim_a.token[:-1] + "x", "Basic abc", ""):
        response = anonymous.get(f"{BASE}/Users", headers={"Authorization": header})
        assert_scim_error(response, 401)
    with tenant_context(session, scim_a.tenant.id):
        scim_tokens.revoke_token(session, actor=Actor.system("test"), token_id=scim_a.token_id)
    session.flush()
    # Still remembered by this process for a few seconds (another process would be told
    # nothing): once that time is over, the token is refused.
    cache = token_cache(scim.app)  # type: ignore[arg-type]
    assert scim.get(f"{BASE}/Users").status_code == 200
    cache.ttl = 0
    assert_scim_error(scim.get(f"{BASE}/Users"), 401)
