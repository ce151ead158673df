"""POST /api/v1/key-results/{id}/binding/preview against the sandboxes: value and records before
saving; permanent source errors are 422 with what to fix, transient ones 503 with Retry-After."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import key_results, objectives
from okr_core.models import KrBinding
from okr_core.periods import period_of
from okr_core.tenancy import tenant_context
from okr_sandboxes.api import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from tests.okr_api.conftest import TenantWorld
from tests.okr_core.integration_support import ACTOR

CURRENT_PERIOD = period_of(datetime.now(UTC).date()).name


@pytest.fixture(scope="module")
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="preview-tests", pulls=40) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def jira_sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="preview-tests", issues=60) as sandbox:
        yield sandbox


@pytest.fixture
def key_result_id(session: Session, tenant_a: TenantWorld) -> uuid.UUID:
    with tenant_context(session, tenant_a.tenant.id):
        objective = objectives.create_objective(
            session, actor=ACTOR, title="Ship faster", period=CURRENT_PERIOD
        )
        kr = key_results.create_key_result(
            session,
            actor=ACTOR,
            objective_id=objective.id,
            title="Merged pull requests",
            start_value=0,
            target_value=50,
        )
        session.flush()
        return kr.id


def _connect(admin: TestClient, body: dict[str, Any]) -> str:
    response = admin.post("/api/v1/integrations", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def github_id(admin: TestClient, github_sandbox: GitHubSandbox) -> str:
    return _connect(
        admin,
        {
            "source": "github",
            "name": "GitHub sandbox",
            "base_url": github_sandbox.base_url,
            "auth_kind": "token",
            "account": github_sandbox.owner,
            "secret": github_sandbox.token,
        },
    )


@pytest.fixture
def jira_id(admin: TestClient, jira_sandbox: JiraSandbox) -> str:
    return _connect(
        admin,
        {
            "source": "jira",
            "name": "Jira sandbox",
            "base_url": jira_sandbox.base_url,
            "auth_kind": "api_token",
            "account": jira_sandbox.email,
            "secret": jira_sandbox.api_token,
        },
    )


def _preview(client: TestClient, key_result_id: uuid.UUID, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/key-results/{key_result_id}/binding/preview", json=body)


def test_github_preview_shows_value_and_records_and_saves_nothing(
    editor: TestClient,
    session: Session,
    tenant_a: TenantWorld,
    github_sandbox: GitHubSandbox,
    github_id: str,
    key_result_id: uuid.UUID,
) -> None:
    repository = f"{github_sandbox.owner}/{github_sandbox.repos[0]}"
    response = _preview(
        editor,
        key_result_id,
        {
            "integration_id": github_id,
            "metric": "github_merged_prs",
            "parameters": {"repositories": [repository]},
            "whole_history": True,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metric"] == "github_merged_prs"
    assert body["value"] == body["record_count"]
    assert body["record_count"] > 0
    assert 0 < len(body["records"]) <= 20
    assert repository in body["query"]
    assert github_sandbox.token not in response.text
    with tenant_context(session, tenant_a.tenant.id):
        assert session.scalars(select(KrBinding)).all() == []


def test_jira_preview_counts_the_jql_matches(
    editor: TestClient, jira_id: str, key_result_id: uuid.UUID
) -> None:
    response = _preview(
        editor,
        key_result_id,
        {
            "integration_id": jira_id,
            "metric": "jira_issue_count",
            "parameters": {"jql": "project = ENG"},
            "whole_history": True,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record_count"] > 0
    assert body["value"] == body["record_count"]
    assert "project = ENG" in body["query"]


def test_invalid_jql_is_422_saying_what_to_fix(
    editor: TestClient, jira_id: str, key_result_id: uuid.UUID
) -> None:
    response = _preview(
        editor,
        key_result_id,
        {
            "integration_id": jira_id,
            "metric": "jira_issue_count",
            "parameters": {"jql": "project = = ENG ((("},
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "source_refused"
    assert response.json()["detail"]


def test_refused_credentials_are_422(
    editor: TestClient,
    github_sandbox: GitHubSandbox,
    github_id: str,
    key_result_id: uuid.UUID,
) -> None:
    github_sandbox.set_faults(unauthorized=True)
    try:
        response = _preview(
            editor,
            key_result_id,
            {
                "integration_id": github_id,
                "metric": "github_merge_rate",
                "parameters": {"repositories": [f"{github_sandbox.owner}/api"]},
            },
        )
    finally:
        github_sandbox.clear_faults()
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "source_refused"
    assert github_sandbox.token not in response.text


def test_unavailable_source_is_503_with_retry_after(
    editor: TestClient,
    github_sandbox: GitHubSandbox,
    github_id: str,
    key_result_id: uuid.UUID,
) -> None:
    github_sandbox.set_faults(server_errors=1.0, error_statuses=(503,))
    try:
        response = _preview(
            editor,
            key_result_id,
            {
                "integration_id": github_id,
                "metric": "github_merged_prs",
                "parameters": {"repositories": [f"{github_sandbox.owner}/api"]},
            },
        )
    finally:
        github_sandbox.clear_faults()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "source_unavailable"
    assert int(response.headers["retry-after"]) >= 1


def test_invalid_parameters_are_refused_before_calling_the_source(
    editor: TestClient,
    github_sandbox: GitHubSandbox,
    github_id: str,
    key_result_id: uuid.UUID,
) -> None:
    github_sandbox.reset_requests()
    response = _preview(
        editor,
        key_result_id,
        {"integration_id": github_id, "metric": "github_merged_prs", "parameters": {}},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parameters.repositories"
    assert github_sandbox.requests()["total"] == 0


def test_viewer_cannot_preview(
    viewer: TestClient, github_id: str, key_result_id: uuid.UUID
) -> None:
    response = _preview(
        viewer,
        key_result_id,
        {
            "integration_id": github_id,
            "metric": "github_merged_prs",
            "parameters": {"repositories": ["acme/api"]},
        },
    )
    assert response.status_code == 403


def test_another_tenants_key_result_is_404(
    editor: TestClient, github_id: str, session: Session, tenant_b: TenantWorld
) -> None:
    with tenant_context(session, tenant_b.tenant.id):
        objective = objectives.create_objective(
            session, actor=ACTOR, title="B", period=CURRENT_PERIOD
        )
        kr = key_results.create_key_result(
            session,
            actor=ACTOR,
            objective_id=objective.id,
            title="B",
            start_value=0,
            target_value=1,
        )
        session.flush()
    response = _preview(
        editor,
        kr.id,
        {
            "integration_id": github_id,
            "metric": "github_merged_prs",
            "parameters": {"repositories": ["acme/api"]},
        },
    )
    assert response.status_code == 404


def test_anonymous_preview_is_401(anonymous: TestClient) -> None:
    response = _preview(anonymous, uuid.uuid4(), {})
    assert response.status_code == 401
