"""Every /api/v1 OKR endpoint as data, so access and audit rules are checked for all of them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from okr_core.roles import Role
from tests.okr_api.okrs.conftest import CURRENT_PERIOD, Seeded


@dataclass(frozen=True)
class Endpoint:
    operation_id: str
    method: str
    path: str  # template with {objective}, {key_result}, {check_in}
    role: Role  # the lowest role allowed
    body: dict[str, Any] | None = None  # values may be templates too

    def request(
        self, client: TestClient, ids: Seeded, query: dict[str, str] | None = None
    ) -> httpx.Response:
        """Send the request with ``ids`` filled into the path, body and query."""
        body = json.loads(ids.fill(json.dumps(self.body))) if self.body is not None else None
        params = {k: ids.fill(v) for k, v in (query or {}).items()}
        response: httpx.Response = client.request(
            self.method, ids.fill(self.path), json=body, params=params
        )
        return response


V, E = Role.viewer, Role.okr_editor
ENDPOINTS = [
    Endpoint("objective_list", "GET", "/api/v1/objectives", V),
    Endpoint(
        "objective_create",
        "POST",
        "/api/v1/objectives",
        E,
        {"title": "Brand new", "period": CURRENT_PERIOD},
    ),
    Endpoint("objective_read", "GET", "/api/v1/objectives/{objective}", V),
    Endpoint("objective_update", "PATCH", "/api/v1/objectives/{objective}", E, {"title": "New"}),
    Endpoint("objective_archive", "POST", "/api/v1/objectives/{objective}/archive", E),
    Endpoint("key_result_list", "GET", "/api/v1/key-results", V),
    Endpoint(
        "key_result_create",
        "POST",
        "/api/v1/key-results",
        E,
        {"objective_id": "{objective}", "title": "New KR", "start_value": 0, "target_value": 1},
    ),
    Endpoint("key_result_read", "GET", "/api/v1/key-results/{key_result}", V),
    Endpoint("key_result_update", "PATCH", "/api/v1/key-results/{key_result}", E, {"unit": "h"}),
    Endpoint("key_result_archive", "POST", "/api/v1/key-results/{key_result}/archive", E),
    Endpoint("check_in_list", "GET", "/api/v1/key-results/{key_result}/check-ins", V),
    Endpoint(
        "check_in_create", "POST", "/api/v1/key-results/{key_result}/check-ins", E, {"value": 50}
    ),
    Endpoint("check_in_read", "GET", "/api/v1/check-ins/{check_in}", V),
    Endpoint("check_in_update", "PATCH", "/api/v1/check-ins/{check_in}", E, {"value": 45}),
    Endpoint("check_in_archive", "POST", "/api/v1/check-ins/{check_in}/archive", E),
    Endpoint("export_objectives_csv", "GET", "/api/v1/export/objectives.csv", E),
    Endpoint("export_key_results_csv", "GET", "/api/v1/export/key-results.csv", E),
]
BY_ID = {endpoint.operation_id: endpoint for endpoint in ENDPOINTS}
# Endpoints that name one resource of the tenant (in the path, or the parent in the body).
PLACEHOLDER = re.compile(r"\{(objective|key_result|check_in)\}")
ADDRESSED = [e for e in ENDPOINTS if PLACEHOLDER.search(e.path + json.dumps(e.body))]
