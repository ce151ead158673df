"""Every public endpoint: anonymous (401), wrong scope (403), wrong tenant (404 or nothing of
the other tenant's) and the happy path; the list must match the v1 OpenAPI operations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.okr_api.public.conftest import IssueKey, OkrData, bearer


@dataclass(frozen=True)
class Endpoint:
    operation_id: str
    scope: str
    url: Callable[[OkrData], str]
    is_list: bool


ENDPOINTS = [
    Endpoint("objectives_list", "objectives:read", lambda d: "/api/v1/public/objectives", True),
    Endpoint(
        "objectives_get",
        "objectives:read",
        lambda d: f"/api/v1/public/objectives/{d.objectives[0].id}",
        False,
    ),
    Endpoint("key_results_list", "key_results:read", lambda d: "/api/v1/public/key-results", True),
    Endpoint(
        "key_results_get",
        "key_results:read",
        lambda d: f"/api/v1/public/key-results/{d.key_results[0].id}",
        False,
    ),
    Endpoint(
        "key_results_check_ins_list",
        "key_results:read",
        lambda d: f"/api/v1/public/key-results/{d.key_results[0].id}/check-ins",
        True,
    ),
]
IDS = [e.operation_id for e in ENDPOINTS]
OTHER_SCOPES = {"objectives:read": ["key_results:read", "reports:read"]}
OTHER_SCOPES["key_results:read"] = ["objectives:read", "reports:read"]


def test_matrix_covers_every_public_operation(public: TestClient) -> None:
    spec = public.get("/api/v1/openapi.json").json()
    operations = {
        op["operationId"]: op["security"][0]["ApiKey"]
        for path in spec["paths"].values()
        for op in path.values()
    }
    assert operations == {e.operation_id: [e.scope] for e in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_anonymous_is_401(public: TestClient, okrs_a: OkrData, endpoint: Endpoint) -> None:
    response = public.get(endpoint.url(okrs_a))
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_missing"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_wrong_scope_is_403(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, endpoint: Endpoint
) -> None:
    key = issue_key(okrs_a.world, OTHER_SCOPES[endpoint.scope])
    response = public.get(endpoint.url(okrs_a), headers=bearer(key))
    assert response.status_code == 403
    assert response.json()["required_scope"] == endpoint.scope


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_wrong_tenant_sees_nothing_of_the_other(
    public: TestClient,
    okrs_a: OkrData,
    okrs_b: OkrData,
    issue_key: IssueKey,
    endpoint: Endpoint,
) -> None:
    key_b = issue_key(okrs_b.world, [endpoint.scope])
    response = public.get(endpoint.url(okrs_a), headers=bearer(key_b))
    a_ids = {str(o.id) for o in okrs_a.objectives} | {str(k.id) for k in okrs_a.key_results}
    if endpoint.operation_id == "objectives_list" or endpoint.operation_id == "key_results_list":
        assert response.status_code == 200
        ids = {row["id"] for row in response.json()["data"]}
        assert ids
        assert not ids & a_ids
    else:
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    requested = endpoint.url(okrs_a)
    assert not any(i in response.text for i in a_ids if i not in requested)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_happy_path(
    public: TestClient, okrs_a: OkrData, okrs_b: OkrData, issue_key: IssueKey, endpoint: Endpoint
) -> None:
    key = issue_key(okrs_a.world, [endpoint.scope])
    response = public.get(endpoint.url(okrs_a), headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["ETag"].startswith('W/"')
    assert "RateLimit" in response.headers
    body = response.json()
    if endpoint.is_list:
        assert set(body) == {"data", "has_more", "next_cursor"}
        assert body["data"]
        b_ids = {str(o.id) for o in okrs_b.objectives} | {str(k.id) for k in okrs_b.key_results}
        assert not {row["id"] for row in body["data"]} & b_ids
    else:
        assert body["id"] in endpoint.url(okrs_a)


def test_key_result_carries_progress_health_and_history(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    kr = okrs_a.key_results[0]
    item = public.get(f"/api/v1/public/key-results/{kr.id}", headers=bearer(key)).json()
    assert item["current_value"] == 35.0
    assert item["progress"] == 0.35
    assert item["health"] in {"on_track", "at_risk", "off_track", "done"}
    history = public.get(
        f"/api/v1/public/key-results/{kr.id}/check-ins", headers=bearer(key)
    ).json()["data"]
    assert [(c["value"], c["source"]) for c in history] == [(20.0, "manual"), (35.0, "automated")]
    assert history[1]["source_ref"] == "jira:PROJ-1"
    automated = public.get(
        f"/api/v1/public/key-results/{kr.id}/check-ins?source=automated", headers=bearer(key)
    ).json()["data"]
    assert [c["value"] for c in automated] == [35.0]


def test_malformed_id_is_404(public: TestClient, okrs_a: OkrData, issue_key: IssueKey) -> None:
    key = issue_key(okrs_a.world)
    response = public.get("/api/v1/public/key-results/not-an-id", headers=bearer(key))
    assert response.status_code == 404


def test_unknown_public_path_is_authenticated_then_404(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    assert public.get("/api/v1/public/teams").status_code == 401
    response = public.get("/api/v1/public/teams", headers=bearer(issue_key(okrs_a.world)))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "RateLimit" in response.headers
