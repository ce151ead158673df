"""/api/v1/key-results/{id}/binding: bind, replace, read with lineage, unbind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_core import check_ins
from okr_core.models import CheckInSource
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.integrations.conftest import World
from tests.okr_core.integration_support import ACTOR


def _url(world: World) -> str:
    return f"/api/v1/key-results/{world.key_result.id}/binding"


def _jira_binding(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_id": str(world.jira.integration.id),
        "metric": "jira_done_share",
        "parameters": {"jql": "project = ENG AND type = Bug"},
    }
    body.update(overrides)
    return body


def test_editor_binds_a_key_result_and_reads_it_back(editor: TestClient, world_a: World) -> None:
    response = editor.put(_url(world_a), json=_jira_binding(world_a, description="bugs closed"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["key_result_id"] == str(world_a.key_result.id)
    assert body["integration_id"] == str(world_a.jira.integration.id)
    assert body["integration_name"] == world_a.jira.integration.name
    assert body["source"] == "jira"
    assert body["metric"] == "jira_done_share"
    assert body["parameters"] == {"jql": "project = ENG AND type = Bug"}
    assert body["whole_history"] is False
    assert body["lineage"] == []
    assert editor.get(_url(world_a)).json() == body


def test_put_replaces_the_one_binding(editor: TestClient, world_a: World) -> None:
    first = editor.put(_url(world_a), json=_jira_binding(world_a)).json()
    second = editor.put(
        _url(world_a),
        json={
            "integration_id": str(world_a.github.integration.id),
            "metric": "github_median_hours_to_merge",
            "parameters": {"repositories": ["acme/api", "acme/web"]},
            "whole_history": True,
        },
    ).json()
    assert second["id"] == first["id"]
    assert second["source"] == "github"
    assert second["whole_history"] is True


def test_unbound_key_result_answers_404_with_a_clear_message(
    viewer: TestClient, world_a: World
) -> None:
    response = viewer.get(_url(world_a))
    assert response.status_code == 404
    assert "not bound" in response.json()["detail"]


def test_delete_unbinds(editor: TestClient, world_a: World) -> None:
    editor.put(_url(world_a), json=_jira_binding(world_a))
    assert editor.delete(_url(world_a)).status_code == 204
    assert editor.get(_url(world_a)).status_code == 404
    assert editor.delete(_url(world_a)).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"parameters": {"jql": " "}}, "parameters.jql"),
        ({"parameters": {}}, "parameters.jql"),
        ({"metric": "jira_field_sum"}, "parameters.field"),
        ({"metric": "github_merged_prs"}, "metric"),
        ({"metric": "salesforce_sum"}, "metric"),
        ({"parameters": {"jql": "x", "repositories": ["a/b"]}}, "parameters.repositories"),
        ({"integration_id": "00000000-0000-0000-0000-000000000001"}, "integration_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_binding_is_422_naming_the_field(
    editor: TestClient, world_a: World, overrides: dict[str, Any], field: str
) -> None:
    response = editor.put(_url(world_a), json=_jira_binding(world_a, **overrides))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_repositories_must_be_owner_slash_name(editor: TestClient, world_a: World) -> None:
    response = editor.put(
        _url(world_a),
        json={
            "integration_id": str(world_a.github.integration.id),
            "metric": "github_merged_prs",
            "parameters": {"repositories": ["just-a-name"]},
        },
    )
    assert response.status_code == 422
    assert "owner/name" in response.json()["detail"]


def test_binding_to_another_tenants_integration_is_422(
    editor: TestClient, world_a: World, world_b: World
) -> None:
    response = editor.put(
        _url(world_a),
        json=_jira_binding(world_a, integration_id=str(world_b.jira.integration.id)),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "integration_id"


def test_lineage_of_automated_check_ins_is_visible(
    viewer: TestClient,
    editor: TestClient,
    session: Session,
    tenant_a: TenantWorld,
    world_a: World,
) -> None:
    binding = editor.put(_url(world_a), json=_jira_binding(world_a)).json()
    ref = json.dumps(
        {
            "binding_id": binding["id"],
            "metric": "jira_done_share",
            "query": "project = ENG AND type = Bug",
            "record_count": 8,
            "record_set_hash": "0f343b0931126a20f133d67c2b018a3b",
            "computed_at": "2026-11-20T12:00:00+00:00",
        }
    )
    with tenant_context(session, tenant_a.tenant.id):
        check_ins.record_check_in(
            session,
            actor=ACTOR,
            key_result_id=world_a.key_result.id,
            value=12.5,
            source=CheckInSource.automated,
            source_ref=ref,
        )
        check_ins.record_check_in(
            session, actor=ACTOR, key_result_id=world_a.key_result.id, value=1
        )
        session.flush()
    lineage = viewer.get(_url(world_a)).json()["lineage"]
    assert len(lineage) == 1, "manual check-ins have no lineage"
    (entry,) = lineage
    assert entry["value"] == 12.5
    assert entry["binding_id"] == binding["id"]
    assert entry["query"] == "project = ENG AND type = Bug"
    assert entry["record_count"] == 8
    assert entry["record_set_hash"] == "0f343b0931126a20f133d67c2b018a3b"
    assert entry["computed_at"] == "2026-11-20T12:00:00Z"
    assert entry["source_ref"] == ref


def test_unreadable_lineage_still_shows_the_check_in(
    viewer: TestClient,
    editor: TestClient,
    session: Session,
    tenant_a: TenantWorld,
    world_a: World,
) -> None:
    editor.put(_url(world_a), json=_jira_binding(world_a))
    with tenant_context(session, tenant_a.tenant.id):
        check_ins.record_check_in(
            session,
            actor=ACTOR,
            key_result_id=world_a.key_result.id,
            value=3,
            source=CheckInSource.automated,
            source_ref="not json",
        )
        session.flush()
    (entry,) = viewer.get(_url(world_a)).json()["lineage"]
    assert entry["record_count"] is None
    assert entry["source_ref"] == "not json"
