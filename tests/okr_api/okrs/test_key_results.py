"""/api/v1/key-results: create, read, list, partial update, archive, derived progress and health."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from okr_core.roles import Role
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.okrs.conftest import Seeded

URL = "/api/v1/key-results"


@pytest.fixture
def past_objective(editor: TestClient) -> str:
    """An objective of a quarter long gone, so health compares with a fully elapsed period."""
    response = editor.post("/api/v1/objectives", json={"title": "Back then", "period": "2020-Q1"})
    assert response.status_code == 201
    return str(response.json()["id"])


def _create(client: TestClient, objective_id: object, **fields: Any) -> dict[str, Any]:
    body = {"objective_id": str(objective_id), "title": "Revenue", "start_value": 0}
    response = client.post(URL, json={"target_value": 100, **body, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_editor_creates_a_key_result(
    editor: TestClient, seeded: Seeded, tenant_a: TenantWorld
) -> None:
    owner = str(tenant_a.users[Role.okr_editor].id)
    response = editor.post(
        URL,
        json={
            "objective_id": str(seeded.objective_id),
            "title": "Churn",
            "start_value": 3.2,
            "target_value": 1.8,
            "unit": " % ",
            "owner_id": owner,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{URL}/{body['id']}"
    assert body["objective_id"] == str(seeded.objective_id)
    assert body["direction"] == "decrease"  # inferred from target below start
    assert (body["unit"], body["owner_id"], body["status"]) == ("%", owner, "active")
    assert body["current_value"] == 3.2
    assert body["progress"] == 0.0
    assert body["health"] in {"on_track", "at_risk", "off_track"}


def test_viewer_reads_a_key_result_with_progress(viewer: TestClient, seeded: Seeded) -> None:
    response = viewer.get(f"{URL}/{seeded.key_result_id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["current_value"], body["progress"]) == (
        "Key result of tenant A",
        40.0,
        0.4,
    )


@pytest.mark.parametrize(
    ("current", "progress", "health"),
    [(0, 0.0, "off_track"), (80, 0.8, "at_risk"), (95, 0.95, "on_track"), (120, 1.0, "done")],
)
def test_progress_and_health_are_derived_from_the_latest_check_in(
    editor: TestClient, past_objective: str, current: float, progress: float, health: str
) -> None:
    kr = _create(editor, past_objective)
    check_in = editor.post(
        f"{URL}/{kr['id']}/check-ins",
        json={"value": current, "checked_at": "2020-03-15T12:00:00+00:00"},
    )
    assert check_in.status_code == 201
    body = editor.get(f"{URL}/{kr['id']}").json()
    assert (body["progress"], body["health"]) == (progress, health)
    listed = editor.get(URL, params={"objective_id": past_objective}).json()["data"]
    assert [(row["progress"], row["health"]) for row in listed] == [(progress, health)]


def test_list_filters_by_objective_and_hides_archived(
    editor: TestClient, seeded: Seeded, past_objective: str
) -> None:
    other = _create(editor, past_objective, title="Elsewhere")
    archived = _create(editor, seeded.objective_id, title="Shelved")
    assert editor.post(f"{URL}/{archived['id']}/archive").status_code == 200

    def titles(**params: str) -> list[str]:
        return [row["title"] for row in editor.get(URL, params=params).json()["data"]]

    mine = str(seeded.objective_id)
    assert titles(objective_id=mine) == ["Key result of tenant A"]
    assert titles(objective_id=mine, include_archived="true") == [
        "Key result of tenant A",
        "Shelved",
    ]
    assert other["title"] in titles()
    assert "Shelved" not in titles()


def test_archive_is_idempotent_and_patch_restores(editor: TestClient, seeded: Seeded) -> None:
    url = f"{URL}/{seeded.key_result_id}"
    first, again = editor.post(f"{url}/archive"), editor.post(f"{url}/archive")
    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "archived"
    assert editor.get(URL).json()["data"] == []
    assert editor.patch(url, json={"status": "active"}).json()["status"] == "active"
    assert len(editor.get(URL).json()["data"]) == 1


def test_duplicate_title_in_the_same_objective_is_409(editor: TestClient, seeded: Seeded) -> None:
    response = editor.post(
        URL,
        json={
            "objective_id": str(seeded.objective_id),
            "title": "Key result of tenant A",
            "start_value": 0,
            "target_value": 5,
        },
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "title"


def test_renaming_onto_a_sibling_title_is_409(editor: TestClient, seeded: Seeded) -> None:
    sibling = _create(editor, seeded.objective_id, title="Sibling")
    response = editor.patch(f"{URL}/{sibling['id']}", json={"title": "Key result of tenant A"})
    assert response.status_code == 409
    assert editor.get(f"{URL}/{sibling['id']}").json()["title"] == "Sibling"


def test_patch_changes_only_the_fields_sent(
    editor: TestClient, seeded: Seeded, tenant_a: TenantWorld
) -> None:
    owner = str(tenant_a.users[Role.viewer].id)
    created = _create(editor, seeded.objective_id, unit="EUR", owner_id=owner)
    url = f"{URL}/{created['id']}"
    retargeted = editor.patch(url, json={"target_value": 50}).json()
    assert retargeted["target_value"] == 50
    kept = {"title", "unit", "owner_id", "start_value", "current_value", "direction"}
    assert {k: retargeted[k] for k in kept} == {k: created[k] for k in kept}

    cleared = editor.patch(url, json={"owner_id": None}).json()
    assert (cleared["owner_id"], cleared["unit"], cleared["target_value"]) == (None, "EUR", 50)


def test_start_value_change_moves_progress(editor: TestClient, seeded: Seeded) -> None:
    body = editor.patch(f"{URL}/{seeded.key_result_id}", json={"start_value": 20}).json()
    assert body["progress"] == pytest.approx(0.25)  # current 40 between 20 and 100


def _raw_post(client: TestClient, text: str) -> Any:
    return client.post(URL, content=text, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("raw_value", "field"),
    [("NaN", "start_value"), ("Infinity", "start_value"), ("1e999", "start_value")],
    ids=["nan", "infinity", "overflow"],
)
def test_non_finite_numbers_are_422(
    editor: TestClient, seeded: Seeded, raw_value: str, field: str
) -> None:
    text = (
        f'{{"objective_id": "{seeded.objective_id}", "title": "T", '
        f'"start_value": {raw_value}, "target_value": 1}}'
    )
    response = _raw_post(editor, text)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target_value": 0}, "target_value"),
        ({"direction": "increase", "target_value": -5}, "direction"),
        ({"direction": "sideways"}, "direction"),
        ({"unit": "u" * 33}, "unit"),
        ({"title": ""}, "title"),
        ({"title": "t" * 301}, "title"),
        ({"start_value": "lots"}, "start_value"),
        ({"current_value": 3}, "current_value"),
        ({"objective_id": None}, "objective_id"),
    ],
    ids=[
        "target-equals-start",
        "direction-contradicts-values",
        "unknown-direction",
        "long-unit",
        "empty-title",
        "long-title",
        "text-value",
        "current-value-is-not-settable",
        "null-objective",
    ],
)
def test_invalid_create_is_422_naming_the_field(
    editor: TestClient, seeded: Seeded, fields: dict[str, Any], field: str
) -> None:
    body = {"objective_id": str(seeded.objective_id), "title": "T", "start_value": 0}
    response = editor.post(URL, json={"target_value": 10, **body, **fields})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"objective_id": "00000000-0000-0000-0000-000000000000"}, "objective_id"),
        ({"current_value": 99}, "current_value"),
        ({"status": "archived"}, "status"),
        ({"unit": None}, "unit"),
        ({"target_value": 0}, "target_value"),
    ],
    ids=["move-objective", "set-current", "archive-by-patch", "null-unit", "target-equals-start"],
)
def test_invalid_patch_is_422_and_changes_nothing(
    editor: TestClient, seeded: Seeded, fields: dict[str, Any], field: str
) -> None:
    url = f"{URL}/{seeded.key_result_id}"
    before = editor.get(url).json()
    response = editor.patch(url, json=fields)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert editor.get(url).json() == before
