"""Break-glass sign-in: sessions, CSRF, throttling, sign-out and ended sessions."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from okr_core.users import end_sessions
from tests.okr_api.conftest import PASSWORD, TenantWorld, sign_in


def _csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert match
    return match.group(1)


def test_session_endpoint_needs_sign_in(anonymous: TestClient) -> None:
    response = anonymous.get("/api/v1/session")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


def test_sign_in_and_out(anonymous: TestClient, tenant_a: TenantWorld) -> None:
    admin = tenant_a.users[Role.tenant_admin]
    sign_in(anonymous, organisation="tenant-a", email=admin.email)
    me = anonymous.get("/api/v1/session").json()
    assert me["user"]["email"] == admin.email
    assert me["user"]["role"] == "tenant_admin"
    assert me["tenant"]["slug"] == "tenant-a"
    out = anonymous.post(
        "/sign-out", headers={"X-CSRF-Token": me["csrf_token"]}, follow_redirects=False
    )
    assert out.status_code == 303
    assert anonymous.get("/api/v1/session").status_code == 401


def test_wrong_password_is_401_without_saying_which_part(
    anonymous: TestClient, tenant_a: TenantWorld
) -> None:
    response = anonymous.post(
        "/sign-in",
        data={
            "organisation": "tenant-a",
            "email": tenant_a.users[Role.viewer].email,
            "password": "not the password",
            "csrf_token": _csrf(anonymous),
        },
    )
    assert response.status_code == 401
    assert "organisation, email or password is not right" in response.text


def test_sign_in_without_csrf_token_is_refused(
    anonymous: TestClient, tenant_a: TenantWorld
) -> None:
    anonymous.get("/sign-in")
    response = anonymous.post(
        "/sign-in",
        data={
            "organisation": "tenant-a",
            "email": tenant_a.users[Role.viewer].email,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_failed_sign_ins_are_throttled(anonymous: TestClient, tenant_a: TenantWorld) -> None:
    email = tenant_a.users[Role.viewer].email
    statuses = []
    for _ in range(6):
        statuses.append(
            anonymous.post(
                "/sign-in",
                data={
                    "organisation": "tenant-a",
                    "email": email,
                    "password": "wrong",
                    "csrf_token": _csrf(anonymous),
                },
            ).status_code
        )
    assert statuses == [401] * 5 + [429]
    # Even the right password waits until the window passes.
    blocked = anonymous.post(
        "/sign-in",
        data={
            "organisation": "tenant-a",
            "email": email,
            "password": PASSWORD,
            "csrf_token": _csrf(anonymous),
        },
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


def test_ended_sessions_are_signed_out(
    client_for: Callable[[Role], TestClient], session: Session, tenant_a: TenantWorld
) -> None:
    client = client_for(Role.viewer)
    assert client.get("/api/v1/session").status_code == 200
    with tenant_context(session, tenant_a.tenant.id):
        end_sessions(session, user=tenant_a.users[Role.viewer])
        session.flush()
    assert client.get("/api/v1/session").status_code == 401


def test_deactivated_user_is_signed_out_on_next_request(
    client_for: Callable[[Role], TestClient], session: Session, tenant_a: TenantWorld
) -> None:
    client = client_for(Role.okr_editor)
    with tenant_context(session, tenant_a.tenant.id):
        tenant_a.users[Role.okr_editor].is_active = False
        session.flush()
    assert client.get("/api/v1/session").status_code == 401


def test_health_and_readiness(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_unknown_route_uses_the_error_shape(anonymous: TestClient) -> None:
    response = anonymous.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
