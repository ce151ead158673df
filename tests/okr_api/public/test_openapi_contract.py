"""The v1 contract: the committed snapshot, the breaking-change check, and the served spec."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from okr_api.public.contract import SNAPSHOT, breaking_changes, current_spec

KR_SCHEMA = ("components", "schemas", "KeyResultRead")
KRS = "/api/v1/public/key-results"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return current_spec()


def _kr_schema(spec: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = spec
    for part in KR_SCHEMA:
        node = node[part]
    return node


def test_current_spec_does_not_break_the_committed_snapshot(spec: dict[str, Any]) -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    assert breaking_changes(snapshot, spec) == [], (
        "the v1 contract changed incompatibly; restore it, or ship the change in /api/v2 "
        "(docs/api-versioning.md)"
    )


def test_a_removed_response_field_is_caught(spec: dict[str, Any]) -> None:
    changed = copy.deepcopy(spec)
    del _kr_schema(changed)["properties"]["health"]
    problems = breaking_changes(spec, changed)
    assert any("health: response field removed" in p for p in problems), problems


def test_an_added_response_field_passes(spec: dict[str, Any]) -> None:
    changed = copy.deepcopy(spec)
    _kr_schema(changed)["properties"]["confidence"] = {"type": "number"}
    assert breaking_changes(spec, changed) == []


def test_other_breaking_changes_are_caught(spec: dict[str, Any]) -> None:
    cases = []
    changed = copy.deepcopy(spec)
    _kr_schema(changed)["properties"]["current_value"] = {"type": "string"}
    cases.append((changed, "type changed"))
    changed = copy.deepcopy(spec)
    changed["paths"][KRS]["get"]["parameters"].append(
        {"name": "workspace", "in": "query", "required": True, "schema": {"type": "string"}}
    )
    cases.append((changed, "new required query parameter workspace"))
    changed = copy.deepcopy(spec)
    changed["components"]["schemas"]["KeyResultStatus"]["enum"].remove("archived")
    cases.append((changed, "enum values removed"))
    changed = copy.deepcopy(spec)
    del changed["paths"][f"{KRS}/{{key_result_id}}/check-ins"]
    cases.append((changed, "path removed"))
    changed = copy.deepcopy(spec)
    changed["paths"][KRS]["post"] = changed["paths"][KRS].pop("get")
    cases.append((changed, "operation removed"))
    for broken, expected in cases:
        problems = breaking_changes(spec, broken)
        assert any(expected in p for p in problems), (expected, problems)


def test_spec_holds_only_the_public_contract(spec: dict[str, Any]) -> None:
    assert spec["info"]["version"].startswith("1.")
    assert all(path.startswith("/api/v1/public/") for path in spec["paths"])
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    for path in spec["paths"].values():
        for operation in path.values():
            assert operation["operationId"]
            assert "422" not in operation["responses"]
            assert operation["responses"]["401"]["content"]["application/problem+json"]
            assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert spec["components"]["schemas"]["KeyResultRead"]["examples"]
