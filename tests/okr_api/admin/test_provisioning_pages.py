"""The Provisioning and Audit log admin pages (TestClient; the browser test drives them too)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import TenantWorld

ClientFor = Callable[[Role], TestClient]


def _csrf(client: TestClient) -> str:
    return str(client.get("/api/v1/session").json()["csrf_token"])


def test_provisioning_page_shows_base_url_and_creates_a_token_once(client_for: ClientFor) -> None:
    admin = client_for(Role.tenant_admin)
    page = admin.get("/admin/provisioning")
    assert page.status_code == 200
    assert "http://testserver/scim/v2" in page.text
    assert "Coming soon" not in page.text
    created = admin.post(
        "/admin/provisioning/tokens", data={"name": "Okta", "csrf_token": _csrf(admin)}
    )
    assert created.status_code == 201
    token = re.search(r'data-testid="new-token">(okrscim_[A-Za-z0-9]+)<', created.text)
    assert token
    again = admin.get("/admin/provisioning")
    assert token.group(1) not in again.text
    assert 'data-token="Okta"' in again.text
    users = admin.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert users.status_code == 200


def test_mapping_and_policy_forms(client_for: ClientFor) -> None:
    admin = client_for(Role.tenant_admin)
    csrf = _csrf(admin)
    saved = admin.post(
        "/admin/provisioning/mappings",
        data={"group": "Engineering", "role": "okr_editor", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = admin.get(saved.headers["location"])
    assert 'data-mapping="Engineering"' in page.text
    assert "Mapping saved" in page.text
    clash = admin.post(
        "/admin/provisioning/mappings",
        data={"group": "engineering", "role": "viewer", "csrf_token": csrf},
    )
    assert clash.status_code == 409
    policy = admin.post(
        "/admin/provisioning/policy",
        data={
            "default_role": "",
            "deletion_mode": "hard",
            "retention_days": "10",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert policy.status_code == 303
    page = admin.get("/admin/provisioning").text
    assert re.search(r'value="hard" checked', page)
    assert 'value="10"' in page
    bad = admin.post(
        "/admin/provisioning/policy",
        data={"deletion_mode": "sometimes", "retention_days": "x", "csrf_token": csrf},
    )
    assert bad.status_code == 422


def test_provisioning_page_is_for_tenant_admins(client_for: ClientFor) -> None:
    response = client_for(Role.okr_editor).get("/admin/provisioning")
    assert response.status_code == 403


def test_audit_log_page_filters_pages_and_links_the_csv(
    session: Session, client_for: ClientFor, tenant_a: TenantWorld
) -> None:
    with tenant_context(session, tenant_a.tenant.id):
        for index in range(55):
            audit.record(
                session,
                actor=Actor(type="scim_token", id="t1", label="Entra"),
                action="scim.user.updated",
                target_type="user",
                target_id=tenant_a.users[Role.viewer].id,
                changes={"n": index},
            )
    session.flush()
    admin = client_for(Role.tenant_admin)
    first = admin.get("/admin/audit-log", params={"actor_type": "scim_token"})
    assert first.status_code == 200
    assert first.text.count('class="audit-event"') == 50
    older = re.search(r'href="(\?[^"]*cursor=[^"]+)" data-testid="older-events"', first.text)
    assert older
    second = admin.get("/admin/audit-log" + older.group(1).replace("&amp;", "&"))
    assert second.text.count('class="audit-event"') == 5
    assert "older-events" not in second.text
    assert "/api/v1/audit-events/export.csv?actor_type=scim_token" in first.text
    assert tenant_a.users[Role.viewer].display_name in first.text  # target label
    none = admin.get("/admin/audit-log", params={"action": "nothing.*"})
    assert "No events match these filters." in none.text
