"""CSV export: headers, content, archived rows, and protection against formula injection."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from okr_api.okrs.export import KEY_RESULT_COLUMNS, OBJECTIVE_COLUMNS, safe_cell, to_csv
from okr_core.roles import Role
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.okrs.conftest import CURRENT_PERIOD, ClientFor, Seeded


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("role", [Role.okr_editor, Role.tenant_admin])
@pytest.mark.parametrize(
    ("name", "columns"),
    [("objectives", OBJECTIVE_COLUMNS), ("key-results", KEY_RESULT_COLUMNS)],
)
def test_export_is_a_named_utf8_csv_attachment(
    client_for: ClientFor, seeded: Seeded, role: Role, name: str, columns: tuple[str, ...]
) -> None:
    response = client_for(role).get(f"/api/v1/export/{name}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).date().isoformat()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="tenant-a-{name}-{today}.csv"'
    )
    assert response.text.splitlines()[0] == ",".join(columns)
    assert "\r\n" in response.text


def test_objectives_csv_has_one_row_per_objective(
    editor: TestClient, seeded: Seeded, tenant_a: TenantWorld
) -> None:
    owner = tenant_a.users[Role.okr_editor]
    editor.patch(f"/api/v1/objectives/{seeded.objective_id}", json={"owner_id": str(owner.id)})
    child = editor.post(
        "/api/v1/objectives",
        json={
            "title": 'Zürich, "quoted"\nand multi-line',
            "period": "2026-Q1",
            "parent_id": str(seeded.objective_id),
        },
    ).json()
    rows = _rows(editor.get("/api/v1/export/objectives.csv").text)
    assert [row["objective_id"] for row in rows] == [str(seeded.objective_id), child["id"]]
    mine, theirs = rows
    assert mine["title"] == "Objective of tenant A"
    assert (mine["owner_id"], mine["owner_email"]) == (str(owner.id), owner.email)
    assert (mine["period"], mine["status"], mine["parent_id"]) == (CURRENT_PERIOD, "active", "")
    assert theirs["title"] == 'Zürich, "quoted"\nand multi-line'
    assert (theirs["period_start"], theirs["period_end"]) == ("2026-01-01", "2026-03-31")
    assert (theirs["owner_email"], theirs["parent_id"]) == ("", str(seeded.objective_id))


def test_key_results_csv_has_values_progress_and_health(
    editor: TestClient, seeded: Seeded, tenant_a: TenantWorld
) -> None:
    owner = tenant_a.users[Role.viewer]
    editor.patch(f"/api/v1/key-results/{seeded.key_result_id}", json={"owner_id": str(owner.id)})
    api = editor.get(f"/api/v1/key-results/{seeded.key_result_id}").json()
    (row,) = _rows(editor.get("/api/v1/export/key-results.csv").text)
    assert row == {
        "key_result_id": str(seeded.key_result_id),
        "objective_id": str(seeded.objective_id),
        "objective_title": "Objective of tenant A",
        "period": CURRENT_PERIOD,
        "title": "Key result of tenant A",
        "owner_id": str(owner.id),
        "owner_email": owner.email,
        "unit": "%",
        "direction": "increase",
        "start_value": "0.0",
        "current_value": "40.0",
        "target_value": "100.0",
        "progress": "0.4",
        "health": api["health"],
        "status": "active",
        "updated_at": row["updated_at"],
    }
    assert datetime.fromisoformat(row["updated_at"]).tzinfo is not None


@pytest.mark.parametrize(
    ("archive_url", "export"),
    [
        ("/api/v1/objectives/{objective}/archive", "objectives"),
        ("/api/v1/key-results/{key_result}/archive", "key-results"),
        ("/api/v1/objectives/{objective}/archive", "key-results"),
    ],
    ids=["archived-objective", "archived-key-result", "key-result-of-archived-objective"],
)
def test_archived_rows_are_exported_only_on_request(
    editor: TestClient, seeded: Seeded, archive_url: str, export: str
) -> None:
    assert editor.post(seeded.fill(archive_url)).status_code == 200
    url = f"/api/v1/export/{export}.csv"
    assert _rows(editor.get(url).text) == []
    assert len(_rows(editor.get(url, params={"include_archived": "true"}).text)) == 1


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_like_text_is_quoted(trigger: str) -> None:
    assert safe_cell(f"{trigger}cmd|' /C calc'!A0") == f"'{trigger}cmd|' /C calc'!A0"


@pytest.mark.parametrize("value", ["plain", "a=b", "", " =not first", -5.0, 3, None])
def test_other_cells_are_left_alone(value: str | float | None) -> None:
    assert safe_cell(value) == ("" if value is None else value)


def test_to_csv_makes_every_row_safe() -> None:
    text = to_csv(("a", "b"), [("=1+1", -2.5), ("@x", "ok")])
    assert text == "a,b\r\n'=1+1,-2.5\r\n'@x,ok\r\n"


def test_exported_user_text_cannot_become_a_formula(editor: TestClient, seeded: Seeded) -> None:
    created = editor.post(
        "/api/v1/objectives",
        json={
            "title": '=HYPERLINK("http://evil.example","click")',
            "period": CURRENT_PERIOD,
            "description": "\t+SUM(A1:A9)",
        },
    )
    assert created.status_code == 201
    kr = editor.post(
        "/api/v1/key-results",
        json={
            "objective_id": created.json()["id"],
            "title": "@cmd",
            "unit": "-1",
            "start_value": -5,
            "target_value": 5,
        },
    )
    assert kr.status_code == 201
    objectives = {
        row["objective_id"]: row for row in _rows(editor.get("/api/v1/export/objectives.csv").text)
    }
    evil = objectives[created.json()["id"]]
    assert evil["title"] == '\'=HYPERLINK("http://evil.example","click")'
    assert evil["description"] == "'\t+SUM(A1:A9)"
    assert objectives[str(seeded.objective_id)]["title"] == "Objective of tenant A"
    krs = {
        row["key_result_id"]: row
        for row in _rows(editor.get("/api/v1/export/key-results.csv").text)
    }
    row = krs[kr.json()["id"]]
    assert (row["title"], row["unit"], row["objective_title"]) == (
        "'@cmd",
        "'-1",
        '\'=HYPERLINK("http://evil.example","click")',
    )
    assert row["start_value"] == "-5.0"  # numbers we write stay numbers
