"""Who may call what, for every /api/v1 OKR endpoint: anonymous, wrong role, wrong tenant."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from okr_core.roles import Role
from tests.okr_api.okrs.conftest import CURRENT_PERIOD, ClientFor, Seeded, unknown_ids
from tests.okr_api.okrs.endpoints import ADDRESSED, BY_ID, ENDPOINTS, Endpoint


def _ids(endpoints: list[Endpoint]) -> list[Any]:
    return [pytest.param(e, id=e.operation_id) for e in endpoints]


def test_every_endpoint_has_a_stable_unique_operation_id(editor: TestClient) -> None:
    spec = editor.get("/openapi.json").json()
    operations = [
        (op["operationId"], method.upper(), path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]
    ids = [operation_id for operation_id, _, _ in operations]
    assert len(ids) == len(set(ids))
    for endpoint in ENDPOINTS:
        path = re.sub(r"\{(\w+)\}", r"{\1_id}", endpoint.path)
        assert (endpoint.operation_id, endpoint.method, path) in operations


@pytest.mark.parametrize("endpoint", _ids(ENDPOINTS))
def test_anonymous_caller_is_told_to_sign_in(anonymous: TestClient, endpoint: Endpoint) -> None:
    response = endpoint.request(anonymous, unknown_ids())
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("endpoint", _ids([e for e in ENDPOINTS if e.role is Role.okr_editor]))
def test_viewer_cannot_write_or_export(
    viewer: TestClient, seeded: Seeded, endpoint: Endpoint
) -> None:
    response = endpoint.request(viewer, seeded)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "permission_denied"
    assert "okr_editor" in body["detail"]


@pytest.mark.parametrize("endpoint", _ids([e for e in ENDPOINTS if e.role is Role.viewer]))
def test_viewer_may_call_every_read_endpoint(
    viewer: TestClient, seeded: Seeded, endpoint: Endpoint
) -> None:
    """Viewer is the lowest role, so reads have no wrong role: they must simply work."""
    response = endpoint.request(viewer, seeded)
    assert response.status_code == 200, response.text
    assert str(seeded.objective_id) in response.text or "40" in response.text


def test_write_without_csrf_token_is_refused(editor: TestClient, seeded: Seeded) -> None:
    del editor.headers["X-CSRF-Token"]
    response = BY_ID["objective_update"].request(editor, seeded)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def _masked(response: httpx.Response, ids: Seeded) -> dict[str, Any]:
    text = response.text
    for value in (ids.objective_id, ids.key_result_id, ids.check_in_id):
        text = text.replace(str(value), "<id>")
    return dict(json.loads(text))


@pytest.mark.parametrize("endpoint", _ids(ADDRESSED))
def test_other_tenants_id_is_404_like_an_unknown_id(
    client_for: ClientFor, seeded: Seeded, foreign: Seeded, endpoint: Endpoint
) -> None:
    admin = client_for(Role.tenant_admin)
    nowhere = unknown_ids()
    theirs, unknown = endpoint.request(admin, foreign), endpoint.request(admin, nowhere)
    assert theirs.status_code == unknown.status_code == 404, theirs.text
    assert theirs.headers["content-type"] == "application/problem+json"
    assert _masked(theirs, foreign) == _masked(unknown, nowhere)
    assert endpoint.request(admin, seeded).status_code in {200, 201}


@pytest.mark.parametrize(
    ("operation_id", "query"),
    [
        ("objective_list", {"include_archived": "true"}),
        ("objective_list", {"parent_id": "{objective}"}),
        ("key_result_list", {"include_archived": "true"}),
        ("key_result_list", {"objective_id": "{objective}"}),
        ("export_objectives_csv", {"include_archived": "true"}),
        ("export_key_results_csv", {"include_archived": "true"}),
    ],
)
def test_other_tenants_rows_are_never_listed(
    editor: TestClient, seeded: Seeded, foreign: Seeded, operation_id: str, query: dict[str, str]
) -> None:
    listing = BY_ID[operation_id]
    theirs = listing.request(editor, foreign, query)
    assert theirs.status_code == 200
    assert "tenant B" not in theirs.text
    assert str(foreign.objective_id) not in theirs.text
    assert "tenant A" in listing.request(editor, seeded).text


@pytest.mark.parametrize("field_name", ["parent_id", "owner_id"])
def test_other_tenants_reference_in_a_body_is_refused_like_an_unknown_one(
    editor: TestClient, foreign: Seeded, field_name: str
) -> None:
    def create(reference: uuid.UUID) -> dict[str, Any]:
        body = {"title": "Aligned", "period": CURRENT_PERIOD, field_name: str(reference)}
        response = editor.post("/api/v1/objectives", json=body)
        assert response.status_code == 422
        return dict(json.loads(response.text.replace(str(reference), "<id>")))

    theirs, unknown = create(foreign.objective_id), create(uuid.uuid4())
    assert theirs == unknown
    assert [e["field"] for e in theirs["errors"]] == [field_name]
