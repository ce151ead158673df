"""/api/v1/api-keys: tenant admins create, list, rotate and revoke keys and read their usage."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.public.runtime import PublicApiRuntime
from okr_core.models import AuditEvent
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.public.conftest import bearer

URL = "/api/v1/api-keys"
NEW_KEY = {"name": "Warehouse", "scopes": ["objectives:read", "key_results:read"]}


@pytest.fixture
def admin(client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(Role.tenant_admin)


def test_anonymous_is_told_to_sign_in(anonymous: TestClient) -> None:
    assert anonymous.get(URL).status_code == 401
    assert anonymous.post(URL, json=NEW_KEY).status_code == 401


@pytest.mark.parametrize("role", [Role.viewer, Role.okr_editor])
def test_only_tenant_admins_manage_keys(client_for: Callable[..., TestClient], role: Role) -> None:
    client = client_for(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, json=NEW_KEY).status_code == 403


def test_create_needs_the_csrf_token(admin: TestClient) -> None:
    response = admin.post(URL, json=NEW_KEY, headers={"X-CSRF-Token": "wrong"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_key_is_shown_once_and_works(admin: TestClient, public: TestClient) -> None:
    created = admin.post(URL, json={**NEW_KEY, "expires_in_days": 30})
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["key"]
    assert secret.startswith("okr_test_")
    assert body["display_prefix"] == secret[:13]
    assert body["status"] == "active"
    assert body["expires_at"] is not None
    listed = admin.get(URL).json()
    assert [k["id"] for k in listed] == [body["id"]]
    assert secret not in admin.get(URL).text
    assert secret not in admin.get(f"{URL}/{body['id']}").text
    assert "key" not in listed[0]
    assert public.get("/api/v1/public/objectives", headers=bearer(secret)).status_code == 200


def test_invalid_scope_is_refused_with_the_valid_ones(admin: TestClient) -> None:
    response = admin.post(URL, json={"name": "x", "scopes": ["everything"]})
    assert response.status_code == 422
    assert "key_results:read" in response.json()["detail"]


def test_rotate_then_revoke_and_every_step_is_audited(
    admin: TestClient, public: TestClient, tenant_a: TenantWorld, session: Session
) -> None:
    old = admin.post(URL, json=NEW_KEY).json()
    rotated = admin.post(f"{URL}/{old['id']}/rotate", json={"old_key_expires_in_hours": 1})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["rotated_from_id"] == old["id"]
    assert new["key"] != old["key"]
    assert admin.get(f"{URL}/{old['id']}").json()["expires_at"] is not None
    for secret in (old["key"], new["key"]):  # overlap: both work
        assert public.get("/api/v1/public/objectives", headers=bearer(secret)).status_code == 200
    revoked = admin.delete(f"{URL}/{new['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    refused = public.get("/api/v1/public/objectives", headers=bearer(new["key"]))
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_revoked"
    with tenant_context(session, tenant_a.tenant.id):
        events = session.scalars(select(AuditEvent).where(AuditEvent.target_type == "api_key"))
        actions = sorted(e.action for e in events)
    assert actions == ["api_key.created", "api_key.created", "api_key.revoked", "api_key.rotated"]


def test_other_tenants_keys_are_404(
    client_for: Callable[..., TestClient], tenant_b: TenantWorld
) -> None:
    admin_a = client_for(Role.tenant_admin)
    key = admin_a.post(URL, json=NEW_KEY).json()
    admin_b = client_for(Role.tenant_admin, tenant_b)
    assert admin_b.get(URL).json() == []
    assert admin_b.get(f"{URL}/{key['id']}").status_code == 404
    assert admin_b.delete(f"{URL}/{key['id']}").status_code == 404
    assert admin_b.post(f"{URL}/{key['id']}/rotate", json={}).status_code == 404
    assert admin_b.get(f"{URL}/{key['id']}/usage").status_code == 404
    assert admin_a.get(f"{URL}/{key['id']}").json()["status"] == "active"


async def _flush(runtime: PublicApiRuntime) -> int:
    return await runtime.flush_usage()


def test_usage_shows_requests_errors_and_latency_per_day(
    admin: TestClient, public: TestClient, runtime: PublicApiRuntime
) -> None:
    created = admin.post(URL, json={"name": "objs", "scopes": ["objectives:read"]}).json()
    for _ in range(3):
        assert (
            public.get("/api/v1/public/objectives", headers=bearer(created["key"])).status_code
            == 200
        )
    forbidden = public.get("/api/v1/public/key-results", headers=bearer(created["key"]))
    assert forbidden.status_code == 403
    assert runtime.usage.pending_requests == 4
    assert public.portal is not None
    public.portal.call(_flush, runtime)
    assert runtime.usage.pending_requests == 0
    usage = admin.get(f"{URL}/{created['id']}/usage").json()
    assert len(usage["days"]) == 30
    today = usage["days"][-1]
    assert today["requests"] == 4
    assert today["errors"] == 1
    assert today["error_rate"] == 0.25
    assert today["p95_ms"] is not None
    assert today["p95_ms"] > 0
    routes = {r["route"]: r for r in usage["routes"]}
    assert routes["/api/v1/public/objectives"]["requests"] == 3
    key = admin.get(f"{URL}/{created['id']}").json()
    assert key["last_used_at"] is not None
    assert key["last_used_ip"] == "testclient"
