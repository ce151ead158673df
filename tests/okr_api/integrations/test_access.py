"""Who may call what, for every integration and binding endpoint: anonymous, wrong role, wrong
tenant, missing CSRF token, and the lowest role that may."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_core import kr_bindings
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.integrations.conftest import ClientFor, World
from tests.okr_api.integrations.endpoints import BELOW, ENDPOINTS, LIVE, WRITES, Endpoint, Ids
from tests.okr_core.integration_support import ACTOR


def _ids(endpoints: list[Endpoint]) -> list[Any]:
    return [pytest.param(e, id=e.operation_id) for e in endpoints]


def _of(world: World) -> Ids:
    return Ids(
        integration=world.github.integration.id,
        key_result=world.key_result.id,
        github=world.github.integration.id,
    )


def _bind(session: Session, tenant: TenantWorld, world: World) -> None:
    with tenant_context(session, tenant.tenant.id):
        kr_bindings.set_binding(
            session,
            actor=ACTOR,
            key_result_id=world.key_result.id,
            integration_id=world.github.integration.id,
            metric="github_merged_prs",
            parameters={"repositories": ["acme/api"]},
        )
        session.flush()


def test_every_route_is_covered_and_has_a_stable_operation_id(admin: TestClient) -> None:
    spec = admin.get("/openapi.json").json()
    operations = {
        op["operationId"]: (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/integrations") or "/binding" in path
        for method, op in item.items()
    }
    expected = {
        e.operation_id: (
            e.method,
            re.sub(r"\{(\w+)\}", r"{\1_id}", e.path),
        )
        for e in ENDPOINTS
    }
    assert operations == expected


@pytest.mark.parametrize("endpoint", _ids(ENDPOINTS))
def test_anonymous_caller_is_told_to_sign_in(anonymous: TestClient, endpoint: Endpoint) -> None:
    ids = Ids(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    response = endpoint.request(anonymous, ids)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("endpoint", _ids([e for e in ENDPOINTS if e.role in BELOW]))
def test_the_role_below_the_required_one_is_refused(
    client_for: ClientFor, world_a: World, endpoint: Endpoint
) -> None:
    client = client_for(BELOW[endpoint.role])
    response = endpoint.request(client, _of(world_a))
    assert response.status_code == 403, response.text
    assert endpoint.role.value in response.json()["detail"]


@pytest.mark.parametrize("endpoint", _ids([e for e in ENDPOINTS if e.addressed]))
def test_another_tenants_ids_are_not_found(
    admin: TestClient, world_a: World, world_b: World, endpoint: Endpoint
) -> None:
    ids = Ids(
        integration=world_b.github.integration.id,
        key_result=world_b.key_result.id,
        github=world_b.github.integration.id,
    )
    response = endpoint.request(admin, ids)
    assert response.status_code == 404, response.text
    assert "tenant" not in response.json()["detail"].lower()


@pytest.mark.parametrize("endpoint", _ids([e for e in ENDPOINTS if e.addressed]))
def test_unknown_ids_are_not_found(admin: TestClient, world_a: World, endpoint: Endpoint) -> None:
    ids = Ids(uuid.uuid4(), uuid.uuid4(), world_a.github.integration.id)
    response = endpoint.request(admin, ids)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("endpoint", _ids(WRITES))
def test_writes_need_the_csrf_token(admin: TestClient, world_a: World, endpoint: Endpoint) -> None:
    del admin.headers["X-CSRF-Token"]
    response = endpoint.request(admin, _of(world_a))
    assert response.status_code == 403, response.text
    assert "CSRF" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", _ids([e for e in ENDPOINTS if e.operation_id not in LIVE]))
def test_the_lowest_allowed_role_succeeds(
    client_for: ClientFor,
    session: Session,
    tenant_a: TenantWorld,
    world_a: World,
    endpoint: Endpoint,
) -> None:
    if endpoint.operation_id in {"kr_binding_read", "kr_binding_delete"}:
        _bind(session, tenant_a, world_a)
    client = client_for(endpoint.role)
    response = endpoint.request(client, _of(world_a))
    assert 200 <= response.status_code < 300, response.text


def test_viewers_cannot_see_integrations_but_can_see_a_binding(
    client_for: ClientFor, session: Session, tenant_a: TenantWorld, world_a: World
) -> None:
    _bind(session, tenant_a, world_a)
    viewer = client_for(Role.viewer)
    assert viewer.get("/api/v1/integrations").status_code == 403
    response = viewer.get(f"/api/v1/key-results/{world_a.key_result.id}/binding")
    assert response.status_code == 200
    assert response.json()["metric"] == "github_merged_prs"
