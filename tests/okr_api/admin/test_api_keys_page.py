"""The admin UI's API keys page: create with scopes and expiry (the key shown once), list with
last use, revoke with confirmation, usage chart; tenant admins only."""

from __future__ import annotations

import re
from collections.abc import Callable

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from okr_api.public.runtime import PublicApiRuntime, get_runtime
from okr_core.roles import Role
from tests.okr_api.admin.page_parser import parse
from tests.okr_api.conftest import TenantWorld

ClientFor = Callable[..., TestClient]
KEY = re.compile(r"okr_test_[0-9A-Za-z]{38}")


def _csrf(client: TestClient) -> str:
    token: str = client.get("/api/v1/session").json()["csrf_token"]
    return token


def _create(client: TestClient, **fields: object) -> tuple[int, str]:
    data = {"csrf_token": _csrf(client), "name": "Warehouse", "expires_in_days": "30"}
    data |= dict(fields.items())  # type: ignore[misc]
    response = client.post("/admin/api-keys", data=data)
    return response.status_code, response.text


@pytest.mark.parametrize("role", [Role.viewer, Role.okr_editor])
def test_only_tenant_admins_open_the_page(client_for: ClientFor, role: Role) -> None:
    response = client_for(role).get("/admin/api-keys")
    assert response.status_code == 403
    assert "tenant admins" in response.text


def test_create_shows_the_key_once_then_lists_it_without_it(
    client_for: ClientFor, tenant_a: TenantWorld
) -> None:
    admin = client_for(Role.tenant_admin)
    empty = admin.get("/admin/api-keys")
    assert empty.status_code == 200
    assert "No keys yet" in empty.text
    status, html = _create(admin, scopes=["objectives:read", "key_results:read"])
    assert status == 201
    page = parse(html)
    dialog = page.all("dialog", id="new-key-dialog")
    assert dialog
    keys = KEY.findall(html)
    assert len(set(keys)) == 1
    listing = admin.get("/admin/api-keys").text
    assert keys[0] not in listing  # never shown again
    assert 'data-key="Warehouse"' in listing
    assert keys[0][:13] in listing  # its recognisable prefix is
    assert "objectives:read" in listing
    assert "Never" in listing  # not used yet


def test_create_without_scope_explains(client_for: ClientFor, tenant_a: TenantWorld) -> None:
    admin = client_for(Role.tenant_admin)
    status, html = _create(admin)
    assert status == 422
    assert "at least one scope" in html
    assert not KEY.search(html)


def test_create_needs_the_csrf_token(client_for: ClientFor, tenant_a: TenantWorld) -> None:
    admin = client_for(Role.tenant_admin)
    admin.headers.pop("X-CSRF-Token", None)
    response = admin.post(
        "/admin/api-keys", data={"name": "x", "scopes": "objectives:read", "csrf_token": "no"}
    )
    assert response.status_code == 403
    assert not KEY.search(response.text)


def test_revoke_then_the_key_fails_and_usage_shows(
    client_for: ClientFor, tenant_a: TenantWorld, app: FastAPI
) -> None:
    admin = client_for(Role.tenant_admin)
    _, html = _create(admin, scopes=["objectives:read"])
    secret = KEY.findall(html)[0]
    key_id = re.search(r'data-key-id="([0-9a-f-]+)"', html)
    assert key_id
    public = TestClient(app)
    auth = {"Authorization": f"Bearer {secret}"}
    assert public.get("/api/v1/public/objectives", headers=auth).status_code == 200
    assert public.get("/api/v1/public/key-results", headers=auth).status_code == 403
    runtime: PublicApiRuntime = get_runtime(app)
    anyio.run(runtime.flush_usage)
    usage = admin.get(f"/admin/api-keys/{key_id.group(1)}")
    assert usage.status_code == 200
    page = parse(usage.text)
    assert page.all("svg", role="img")
    assert 'data-field="requests">2<' in usage.text
    assert "50.0" in usage.text  # one of two requests was refused
    listing = admin.get("/admin/api-keys").text
    assert "from testclient" in listing  # last use with its address
    revoked = admin.post(
        f"/admin/api-keys/{key_id.group(1)}/revoke",
        data={"csrf_token": _csrf(admin)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    after = admin.get(revoked.headers["location"])
    assert "Revoked" in after.text
    assert "badge--key-revoked" in after.text
    refused = public.get("/api/v1/public/objectives", headers=auth)
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_revoked"


def test_other_tenants_key_page_is_404(
    client_for: ClientFor, tenant_a: TenantWorld, tenant_b: TenantWorld
) -> None:
    _, html = _create(client_for(Role.tenant_admin), scopes=["objectives:read"])
    key_id = re.search(r'data-key-id="([0-9a-f-]+)"', html)
    assert key_id
    other = client_for(Role.tenant_admin, tenant_b)
    assert other.get(f"/admin/api-keys/{key_id.group(1)}").status_code == 404
    assert 'data-key="Warehouse"' not in other.get("/admin/api-keys").text
