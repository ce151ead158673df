"""/api/v1 check-ins: recording, correcting and archiving move the key result's current value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_core import check_ins
from okr_core.actors import Actor
from okr_core.models import CheckInSource
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.okrs.conftest import Seeded


def _hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def _current_value(client: TestClient, seeded: Seeded) -> float:
    return float(client.get(f"/api/v1/key-results/{seeded.key_result_id}").json()["current_value"])


def _record(client: TestClient, seeded: Seeded, **fields: Any) -> dict[str, Any]:
    url = f"/api/v1/key-results/{seeded.key_result_id}/check-ins"
    response = client.post(url, json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_editor_records_a_check_in_as_its_author(
    editor: TestClient, seeded: Seeded, tenant_a: TenantWorld
) -> None:
    url = f"/api/v1/key-results/{seeded.key_result_id}/check-ins"
    response = editor.post(url, json={"value": 55.5, "note": "good week"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/check-ins/{body['id']}"
    assert body["author_id"] == str(tenant_a.users[Role.okr_editor].id)
    assert (body["value"], body["note"], body["source"]) == (55.5, "good week", "manual")
    assert body["key_result_id"] == str(seeded.key_result_id)
    assert body["archived_at"] is None
    assert _current_value(editor, seeded) == 55.5


def test_backdated_check_in_does_not_override_a_later_one(
    editor: TestClient, seeded: Seeded
) -> None:
    _record(editor, seeded, value=70, checked_at=_hours_ago(48))
    assert _current_value(editor, seeded) == 40  # the seeded check-in of a day ago is later


def test_viewer_lists_and_reads_check_ins(viewer: TestClient, seeded: Seeded) -> None:
    listing = viewer.get(f"/api/v1/key-results/{seeded.key_result_id}/check-ins")
    assert listing.status_code == 200
    assert [row["id"] for row in listing.json()["data"]] == [str(seeded.check_in_id)]
    one = viewer.get(f"/api/v1/check-ins/{seeded.check_in_id}")
    assert one.status_code == 200
    assert one.json()["value"] == 40


def test_list_is_oldest_first(editor: TestClient, seeded: Seeded) -> None:
    _record(editor, seeded, value=1, checked_at=_hours_ago(1))
    _record(editor, seeded, value=2, checked_at=_hours_ago(72))
    rows = editor.get(f"/api/v1/key-results/{seeded.key_result_id}/check-ins").json()["data"]
    assert [row["value"] for row in rows] == [2, 40, 1]


def test_correcting_a_check_in_moves_the_current_value(editor: TestClient, seeded: Seeded) -> None:
    url = f"/api/v1/check-ins/{seeded.check_in_id}"
    response = editor.patch(url, json={"value": 65})
    assert response.status_code == 200
    assert response.json()["value"] == 65
    assert _current_value(editor, seeded) == 65


def test_patch_changes_only_the_fields_sent(editor: TestClient, seeded: Seeded) -> None:
    url = f"/api/v1/check-ins/{seeded.check_in_id}"
    before = editor.get(url).json()
    after = editor.patch(url, json={"note": "typo fixed"}).json()
    assert after["note"] == "typo fixed"
    assert {k: v for k, v in after.items() if k != "note"} == {
        k: v for k, v in before.items() if k != "note"
    }


def test_archiving_the_latest_check_in_falls_back_to_the_one_before(
    editor: TestClient, seeded: Seeded
) -> None:
    latest = _record(editor, seeded, value=90)
    assert _current_value(editor, seeded) == 90
    url = f"/api/v1/check-ins/{latest['id']}/archive"
    first, again = editor.post(url), editor.post(url)
    assert first.status_code == again.status_code == 200
    assert first.json()["archived_at"] == again.json()["archived_at"] is not None
    assert _current_value(editor, seeded) == 40

    assert editor.post(f"/api/v1/check-ins/{seeded.check_in_id}/archive").status_code == 200
    assert _current_value(editor, seeded) == 0  # no check-ins left: back to the start value


def test_archived_check_ins_are_listed_only_on_request(editor: TestClient, seeded: Seeded) -> None:
    editor.post(f"/api/v1/check-ins/{seeded.check_in_id}/archive")
    url = f"/api/v1/key-results/{seeded.key_result_id}/check-ins"
    assert editor.get(url).json()["data"] == []
    archived = editor.get(url, params={"include_archived": "true"}).json()["data"]
    assert [row["id"] for row in archived] == [str(seeded.check_in_id)]


def test_automated_check_ins_cannot_be_edited(
    editor: TestClient, seeded: Seeded, session: Session, tenant_a: TenantWorld
) -> None:
    with tenant_context(session, tenant_a.tenant.id):
        synced = check_ins.record_check_in(
            session,
            actor=Actor.system("sync"),
            key_result_id=seeded.key_result_id,
            value=12,
            source=CheckInSource.automated,
            source_ref="JIRA-1",
        )
        session.flush()
    response = editor.patch(f"/api/v1/check-ins/{synced.id}", json={"value": 13})
    assert response.status_code == 422
    assert "automated" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "value"),
        ({"value": "high"}, "value"),
        ({"value": 1, "checked_at": "2020-01-01T10:00:00"}, "checked_at"),
        (
            {"value": 1, "checked_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
            "checked_at",
        ),
        ({"value": 1, "note": "n" * 5001}, "note"),
        ({"value": 1, "author_id": "00000000-0000-0000-0000-000000000000"}, "author_id"),
        ({"value": 1, "source": "automated"}, "source"),
    ],
    ids=["missing", "text", "naive-time", "future", "long-note", "author", "source"],
)
def test_invalid_check_in_is_422_naming_the_field(
    editor: TestClient, seeded: Seeded, body: dict[str, Any], field: str
) -> None:
    response = editor.post(f"/api/v1/key-results/{seeded.key_result_id}/check-ins", json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert _current_value(editor, seeded) == 40


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": None}, "value"),
        ({"checked_at": None}, "checked_at"),
        ({"key_result_id": "00000000-0000-0000-0000-000000000000"}, "key_result_id"),
    ],
)
def test_invalid_patch_is_422_and_changes_nothing(
    editor: TestClient, seeded: Seeded, body: dict[str, Any], field: str
) -> None:
    url = f"/api/v1/check-ins/{seeded.check_in_id}"
    before = editor.get(url).json()
    response = editor.patch(url, json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert editor.get(url).json() == before
