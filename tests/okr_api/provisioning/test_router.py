"""/api/v1/provisioning: SCIM tokens shown once, role mappings, policy, events."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from okr_core.roles import Role
from tests.okr_api.conftest import TenantWorld

URL = "/api/v1/provisioning"


def test_anonymous_is_401_and_non_admins_403(
    anonymous: TestClient, client_for: Callable[[Role], TestClient]
) -> None:
    assert anonymous.get(URL).status_code == 401
    editor = client_for(Role.okr_editor)
    assert editor.get(URL).status_code == 403
    assert editor.post(f"{URL}/scim-tokens", json={"name": "x"}).status_code == 403


def test_token_is_shown_once_and_works_until_revoked(
    client_for: Callable[[Role], TestClient], anonymous: TestClient
) -> None:
    admin = client_for(Role.tenant_admin)
    created = admin.post(f"{URL}/scim-tokens", json={"name": "Entra ID"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("okrscim_")
    overview = admin.get(URL).json()
    assert overview["scim_base_url"] == "http://testserver/scim/v2"
    listed = overview["tokens"]
    assert [t["name"] for t in listed] == ["Entra ID"]
    assert "token" not in listed[0]
    assert token not in admin.get(URL).text
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.get("/scim/v2/Users", headers=headers).status_code == 200
    assert admin.delete(f"{URL}/scim-tokens/{listed[0]['id']}").status_code == 204
    assert anonymous.get("/scim/v2/Users", headers=headers).status_code == 401
    assert admin.get(URL).json()["tokens"][0]["revoked_at"] is not None


def test_other_tenants_token_is_404(
    client_for: Callable[..., TestClient], tenant_b: TenantWorld
) -> None:
    theirs = client_for(Role.tenant_admin, tenant_b).post(f"{URL}/scim-tokens", json={"name": "B"})
    token_id = theirs.json()["id"]
    assert client_for(Role.tenant_admin).delete(f"{URL}/scim-tokens/{token_id}").status_code == 404


def test_role_mappings_and_settings(
    client_for: Callable[[Role], TestClient], scim: TestClient
) -> None:
    admin = client_for(Role.tenant_admin)
    group = scim.post(
        "/scim/v2/Groups",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng"},
    )
    assert group.status_code == 201
    by_name = admin.post(
        f"{URL}/role-mappings", json={"group_display_name": "Admins", "role": "tenant_admin"}
    )
    assert by_name.status_code == 201
    assert by_name.json()["group_exists"] is False
    assert (
        admin.post(
            f"{URL}/role-mappings", json={"group_display_name": "admins", "role": "viewer"}
        ).status_code
        == 409
    )
    assert admin.post(f"{URL}/role-mappings", json={"role": "viewer"}).status_code == 422
    assert (
        admin.post(
            f"{URL}/role-mappings", json={"group_display_name": "X", "role": "platform_operator"}
        ).status_code
        == 422
    )
    changed = admin.patch(
        f"{URL}/role-mappings/{by_name.json()['id']}", json={"role": "okr_editor"}
    )
    assert changed.json()["role"] == "okr_editor"
    assert admin.delete(f"{URL}/role-mappings/{by_name.json()['id']}").status_code == 204
    settings = admin.put(
        f"{URL}/settings", json={"deletion_mode": "hard", "retention_days": 7, "default_role": None}
    )
    assert settings.status_code == 200
    assert settings.json() == {"default_role": None, "deletion_mode": "hard", "retention_days": 7}
    assert admin.put(f"{URL}/settings", json={"retention_days": -1}).status_code == 422
    assert admin.get(URL).json()["settings"]["retention_days"] == 7
    actions = [
        e["action"]
        for e in admin.get("/api/v1/audit-events", params={"action": "provisioning.*"}).json()[
            "items"
        ]
    ]
    assert actions == ["provisioning.settings_changed"]


def test_latest_provisioning_events(
    client_for: Callable[[Role], TestClient], scim: TestClient
) -> None:
    user = scim.post(
        "/scim/v2/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "e@example.com",
        },
    )
    assert user.status_code == 201
    # The token lives in another tenant (scim_a): tenant A's admin sees none of its events.
    admin = client_for(Role.tenant_admin)
    assert admin.get(f"{URL}/events").json() == []
