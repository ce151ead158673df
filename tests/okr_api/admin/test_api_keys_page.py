"""The admin UI's API keys page: create with scopes and expiry (the key shown once), list with
last use, revoke with confirmation, usage chart; tenant admins only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.public.runtime import PublicApiRuntime, get_runtime
from okr_core.models import ApiKey, AuditEvent
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
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


def _rotate(client: TestClient, key_id: str, hours: str) -> tuple[int, str]:
    response = client.post(
        f"/admin/api-keys/{key_id}/rotate",
        data={"csrf_token": _csrf(client), "old_key_expires_in_hours": hours},
    )
    return response.status_code, response.text


def test_rotate_shows_the_new_key_once_and_the_old_one_keeps_its_overlap(
    client_for: ClientFor, tenant_a: TenantWorld, app: FastAPI, session: Session
) -> None:
    admin = client_for(Role.tenant_admin)
    _, html = _create(admin, scopes=["objectives:read"])
    old_secret = KEY.findall(html)[0]
    key_id = re.search(r'data-key-id="([0-9a-f-]+)"', html)
    assert key_id
    assert f"/admin/api-keys/{key_id.group(1)}/rotate" in admin.get("/admin/api-keys").text

    status, rotated = _rotate(admin, key_id.group(1), "24")
    assert status == 201
    assert parse(rotated).all("dialog", id="new-key-dialog")
    new_secret = set(KEY.findall(rotated)) - {old_secret}
    assert len(new_secret) == 1
    assert old_secret not in rotated
    assert 'data-testid="rotation-overlap"' in rotated
    assert old_secret[:13] in rotated  # the old key's recognisable prefix
    assert "keeps working until" in rotated

    public = TestClient(app)
    for secret in (old_secret, *new_secret):  # both work during the overlap
        answer = public.get(
            "/api/v1/public/objectives", headers={"Authorization": f"Bearer {secret}"}
        )
        assert answer.status_code == 200
    listing = admin.get("/admin/api-keys").text
    assert listing.count('data-key="Warehouse"') == 2
    assert not KEY.search(listing)
    with tenant_context(session, tenant_a.tenant.id):
        old = session.get(ApiKey, uuid.UUID(key_id.group(1)))
        assert old is not None
        assert old.expires_at is not None
        overlap = old.expires_at - datetime.now(UTC)
        assert timedelta(hours=23) < overlap <= timedelta(hours=24)
        actions = [e.action for e in session.scalars(select(AuditEvent))]
        audit = repr([(e.changes, e.actor_label) for e in session.scalars(select(AuditEvent))])
    assert "api_key.rotated" in actions
    assert old_secret not in audit
    assert next(iter(new_secret)) not in audit


def test_rotate_with_no_overlap_stops_the_old_key_at_once(
    client_for: ClientFor, tenant_a: TenantWorld, app: FastAPI
) -> None:
    admin = client_for(Role.tenant_admin)
    _, html = _create(admin, scopes=["objectives:read"])
    old_secret = KEY.findall(html)[0]
    key_id = re.search(r'data-key-id="([0-9a-f-]+)"', html)
    assert key_id
    status, _ = _rotate(admin, key_id.group(1), "0")
    assert status == 201
    refused = TestClient(app).get(
        "/api/v1/public/objectives", headers={"Authorization": f"Bearer {old_secret}"}
    )
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_expired"


def test_rotate_refuses_unlisted_overlaps_and_inactive_keys(
    client_for: ClientFor, tenant_a: TenantWorld, tenant_b: TenantWorld
) -> None:
    admin = client_for(Role.tenant_admin)
    _, html = _create(admin, scopes=["objectives:read"])
    key_id = re.search(r'data-key-id="([0-9a-f-]+)"', html)
    assert key_id
    status, page = _rotate(admin, key_id.group(1), "9999")
    assert status == 422
    assert "from the list" in page
    assert not KEY.search(page)
    other = client_for(Role.tenant_admin, tenant_b)
    assert _rotate(other, key_id.group(1), "24")[0] == 404
    admin.post(f"/admin/api-keys/{key_id.group(1)}/revoke", data={"csrf_token": _csrf(admin)})
    status, page = _rotate(admin, key_id.group(1), "24")
    assert status == 422
    assert "only an active key can be rotated" in page.lower()
    assert not KEY.search(page)
    viewer = client_for(Role.viewer)
    assert _rotate(viewer, key_id.group(1), "24")[0] == 403
