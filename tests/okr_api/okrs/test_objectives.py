"""/api/v1/objectives: create, read, list with filters, partial update, archive."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from okr_core.roles import Role
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.okrs.conftest import CURRENT_PERIOD, Seeded

URL = "/api/v1/objectives"


def _create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post(URL, json={"title": "Delight customers", "period": "2026-Q3", **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _titles(client: TestClient, **params: Any) -> list[str]:
    response = client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return [row["title"] for row in response.json()["data"]]


def test_editor_creates_an_objective(editor: TestClient, tenant_a: TenantWorld) -> None:
    owner = tenant_a.users[Role.viewer]
    response = editor.post(
        URL,
        json={
            "title": "  Delight customers  ",
            "period": "2026-Q3",
            "description": "Why it matters",
            "owner_id": str(owner.id),
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{URL}/{body['id']}"
    assert body["title"] == "Delight customers"
    assert body["description"] == "Why it matters"
    assert body["owner_id"] == str(owner.id)
    assert (body["period"], body["period_start"], body["period_end"]) == (
        "2026-Q3",
        "2026-07-01",
        "2026-09-30",
    )
    assert body["status"] == "active"
    assert body["parent_id"] is None


def test_viewer_reads_an_objective(viewer: TestClient, seeded: Seeded) -> None:
    response = viewer.get(f"{URL}/{seeded.objective_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(seeded.objective_id)
    assert body["title"] == "Objective of tenant A"
    assert body["period"] == CURRENT_PERIOD


def test_list_is_wrapped_in_a_page_and_ordered_by_period_then_title(
    editor: TestClient, viewer: TestClient
) -> None:
    _create(editor, title="B", period="2026-Q1")
    _create(editor, title="A", period="2026-Q1")
    _create(editor, title="C", period="2026-Q2")
    response = viewer.get(URL)
    assert list(response.json()) == ["data"]
    assert _titles(viewer) == ["C", "A", "B"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"period": "2026-Q1"}, ["Parent"]),
        ({"status": "completed"}, ["Done"]),
        ({"status": "archived"}, ["Shelved"]),
        ({"owner_id": "{owner}"}, ["Child"]),
        ({"parent_id": "{parent}"}, ["Child"]),
        ({}, ["Child", "Done", "Parent"]),
        ({"include_archived": "true"}, ["Child", "Done", "Shelved", "Parent"]),
    ],
    ids=["period", "status", "archived-status", "owner", "parent", "default", "include-archived"],
)
def test_list_filters(
    editor: TestClient, tenant_a: TenantWorld, params: dict[str, str], expected: list[str]
) -> None:
    owner = str(tenant_a.users[Role.okr_editor].id)
    parent = _create(editor, title="Parent", period="2026-Q1")["id"]
    _create(editor, title="Child", period="2026-Q2", parent_id=parent, owner_id=owner)
    done = _create(editor, title="Done", period="2026-Q2")["id"]
    assert editor.patch(f"{URL}/{done}", json={"status": "completed"}).status_code == 200
    shelved = _create(editor, title="Shelved", period="2026-Q2")["id"]
    assert editor.post(f"{URL}/{shelved}/archive").status_code == 200
    filled = {k: v.format(owner=owner, parent=parent) for k, v in params.items()}
    assert _titles(editor, **filled) == expected


def test_duplicate_title_in_the_same_period_is_409(editor: TestClient) -> None:
    _create(editor)
    response = editor.post(URL, json={"title": "Delight customers", "period": "2026-Q3"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert body["errors"] == [{"field": "title", "message": body["detail"]}]
    assert editor.post(URL, json={"title": "Delight customers", "period": "2026-Q4"}).is_success


def test_renaming_onto_an_existing_title_is_409(editor: TestClient) -> None:
    _create(editor, title="First")
    second = _create(editor, title="Second")
    response = editor.patch(f"{URL}/{second['id']}", json={"title": "First"})
    assert response.status_code == 409
    assert editor.get(f"{URL}/{second['id']}").json()["title"] == "Second"


def test_patch_changes_only_the_fields_sent(editor: TestClient, tenant_a: TenantWorld) -> None:
    owner = str(tenant_a.users[Role.viewer].id)
    parent = _create(editor, title="Parent")["id"]
    created = _create(editor, description="Kept", owner_id=owner, parent_id=parent)
    renamed = editor.patch(f"{URL}/{created['id']}", json={"title": "Renamed"}).json()
    assert renamed["title"] == "Renamed"
    unchanged = {k: v for k, v in created.items() if k not in {"title", "updated_at"}}
    assert {k: renamed[k] for k in unchanged} == unchanged

    cleared = editor.patch(f"{URL}/{created['id']}", json={"owner_id": None}).json()
    assert cleared["owner_id"] is None
    assert (cleared["title"], cleared["parent_id"]) == ("Renamed", parent)


def test_patch_moves_the_period_and_its_dates(editor: TestClient) -> None:
    created = _create(editor)
    moved = editor.patch(f"{URL}/{created['id']}", json={"period": "2027-Q1"}).json()
    assert (moved["period"], moved["period_start"], moved["period_end"]) == (
        "2027-Q1",
        "2027-01-01",
        "2027-03-31",
    )


def test_archive_hides_the_objective_until_restored(editor: TestClient, seeded: Seeded) -> None:
    url = f"{URL}/{seeded.objective_id}"
    first = editor.post(f"{url}/archive")
    again = editor.post(f"{url}/archive")
    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "archived"
    assert _titles(editor) == []
    assert _titles(editor, include_archived="true") == ["Objective of tenant A"]
    assert editor.get(url).json()["status"] == "archived"

    restored = editor.patch(url, json={"status": "active"})
    assert restored.json()["status"] == "active"
    assert _titles(editor) == ["Objective of tenant A"]


def test_archiving_through_patch_is_refused(editor: TestClient, seeded: Seeded) -> None:
    response = editor.patch(f"{URL}/{seeded.objective_id}", json={"status": "archived"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"


def test_alignment_cycle_is_refused(editor: TestClient) -> None:
    parent = _create(editor, title="Parent")["id"]
    child = _create(editor, title="Child", parent_id=parent)["id"]
    response = editor.patch(f"{URL}/{parent}", json={"parent_id": child})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parent_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "period": "2026-Q4"}, "title"),
        ({"title": "   ", "period": "2026-Q4"}, "title"),
        ({"title": "x" * 301, "period": "2026-Q4"}, "title"),
        ({"title": 7, "period": "2026-Q4"}, "title"),
        ({"title": "Ok", "period": "2026-Q5"}, "period"),
        ({"title": "Ok", "period": "Q4 2026"}, "period"),
        ({"title": "Ok"}, "period"),
        ({"title": "Ok", "period": "2026-Q4", "description": "x" * 10_001}, "description"),
        ({"title": "Ok", "period": "2026-Q4", "owner_id": "not-a-uuid"}, "owner_id"),
        ({"title": "Ok", "period": "2026-Q4", "status": "active"}, "status"),
        ({"title": "Ok", "period": "2026-Q4", "tenant_id": "x"}, "tenant_id"),
    ],
    ids=[
        "empty-title",
        "blank-title",
        "long-title",
        "number-title",
        "quarter-5",
        "free-text-period",
        "missing-period",
        "long-description",
        "bad-owner-uuid",
        "status-on-create",
        "unknown-field",
    ],
)
def test_invalid_create_is_422_naming_the_field(
    editor: TestClient, body: dict[str, Any], field: str
) -> None:
    response = editor.post(URL, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert field in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"period": None}, "period"),
        ({"description": None}, "description"),
        ({"status": None}, "status"),
        ({"title": ""}, "title"),
        ({"id": "00000000-0000-0000-0000-000000000000"}, "id"),
    ],
)
def test_invalid_patch_is_422_and_changes_nothing(
    editor: TestClient, seeded: Seeded, body: dict[str, Any], field: str
) -> None:
    url = f"{URL}/{seeded.objective_id}"
    before = editor.get(url).json()
    response = editor.patch(url, json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert editor.get(url).json() == before
