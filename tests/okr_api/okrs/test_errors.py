"""One error shape for every error: malformed bodies, bad ids, unknown ids, bad queries."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.okr_api.okrs.conftest import Seeded

PROBLEM_KEYS = {"type", "title", "status", "code", "detail"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/objectives"),
        ("PATCH", "/api/v1/objectives/{objective}"),
        ("POST", "/api/v1/key-results"),
        ("PATCH", "/api/v1/key-results/{key_result}"),
        ("POST", "/api/v1/key-results/{key_result}/check-ins"),
        ("PATCH", "/api/v1/check-ins/{check_in}"),
    ],
)
def test_malformed_json_is_422_naming_the_body(
    editor: TestClient, seeded: Seeded, method: str, path: str
) -> None:
    response = editor.request(
        method,
        seeded.fill(path),
        content=b'{"title": "unterminated',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) >= PROBLEM_KEYS
    assert problem["code"] == "validation_failed"
    assert [e["field"] for e in problem["errors"]] == ["body"]
    assert "not valid JSON" in problem["errors"][0]["message"]


@pytest.mark.parametrize("body", [b"[]", b'"text"', b""], ids=["array", "string", "empty"])
def test_body_that_is_not_an_object_is_422(editor: TestClient, body: bytes) -> None:
    response = editor.post(
        "/api/v1/objectives", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/objectives/not-a-uuid", "objective_id"),
        ("/api/v1/key-results/42", "key_result_id"),
        ("/api/v1/key-results/42/check-ins", "key_result_id"),
        ("/api/v1/check-ins/zzz", "check_in_id"),
    ],
)
def test_bad_uuid_in_the_path_is_422_naming_the_parameter(
    viewer: TestClient, path: str, parameter: str
) -> None:
    response = viewer.get(path)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [f"path.{parameter}"]


@pytest.mark.parametrize(
    ("path", "noun"),
    [
        ("/api/v1/objectives/{id}", "objective"),
        ("/api/v1/key-results/{id}", "key result"),
        ("/api/v1/key-results/{id}/check-ins", "key result"),
        ("/api/v1/check-ins/{id}", "check-in"),
    ],
)
def test_unknown_id_is_404(viewer: TestClient, path: str, noun: str) -> None:
    missing = uuid.uuid4()
    response = viewer.get(path.format(id=missing))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:okr-hub:error:not_found",
        "title": "Not found",
        "status": 404,
        "code": "not_found",
        "detail": f"{noun} {missing} was not found",
    }


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/objectives", {"period": "2026-Q9"}, "query.period"),
        ("/api/v1/objectives", {"status": "deleted"}, "query.status"),
        ("/api/v1/objectives", {"owner_id": "me"}, "query.owner_id"),
        ("/api/v1/key-results", {"objective_id": "1"}, "query.objective_id"),
        ("/api/v1/key-results", {"include_archived": "perhaps"}, "query.include_archived"),
    ],
)
def test_bad_query_parameter_is_422_naming_it(
    viewer: TestClient, path: str, query: dict[str, str], field: str
) -> None:
    response = viewer.get(path, params=query)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
