"""Property: any sequence of group PATCH operations leaves the membership that the same
operations leave on a plain Python set (all dialects: RFC paths, path-less values, Entra's
remove-by-value-list)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.okr_api.scim.conftest import create_group, create_user, member_ids, patch

POOL = 6
Op = tuple[str, tuple[int, ...]]

operations = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "add",
                "add_pathless",
                "remove_filter",
                "remove_or_filter",
                "remove_values",
                "remove_all",
                "replace",
                "replace_pathless",
            ]
        ),
        st.lists(st.integers(min_value=0, max_value=POOL - 1), max_size=3).map(tuple),
    ),
    min_size=1,
    max_size=6,
)


def _apply(model: set[int], kind: str, picks: tuple[int, ...]) -> None:
    chosen = set(picks)
    if kind in ("add", "add_pathless"):
        model |= chosen
    elif kind in ("remove_filter", "remove_values"):
        model -= chosen
    elif kind == "remove_or_filter":
        if picks:
            model -= chosen
    elif kind == "remove_all":
        model.clear()
    else:
        model.clear()
        model |= chosen


def _operation(kind: str, picks: tuple[int, ...], ids: list[str]) -> list[dict[str, Any]]:
    values = [{"value": ids[p]} for p in picks]
    if kind == "add":
        return [{"op": "Add", "path": "members", "value": values}] if values else []
    if kind == "add_pathless":
        return [{"op": "add", "value": {"members": values}}] if values else []
    if kind == "remove_filter":
        return [{"op": "remove", "path": f'members[value eq "{ids[p]}"]'} for p in picks]
    if kind == "remove_or_filter":
        if not picks:
            return []
        expression = " or ".join(f'value eq "{ids[p]}"' for p in picks)
        return [{"op": "remove", "path": f"members[{expression}]"}]
    if kind == "remove_values":
        return [{"op": "Remove", "path": "members", "value": [{"$ref": None, **v} for v in values]}]
    if kind == "remove_all":
        return [{"op": "remove", "path": "members"}]
    if kind == "replace":
        return [{"op": "replace", "path": "members", "value": values}]
    return [{"op": "replace", "value": {"members": values}}]


@pytest.mark.slow
def test_group_patch_sequences_match_a_plain_set(scim: TestClient) -> None:
    ids = [create_user(scim, f"p{i}@example.com")["id"] for i in range(POOL)]
    group = create_group(scim, "Property")

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(sequence=operations, one_request=st.booleans())
    def check(sequence: list[Op], one_request: bool) -> None:
        reset = {"op": "replace", "path": "members", "value": []}
        assert patch(scim, f"/Groups/{group['id']}", reset).status_code == 204
        model: set[int] = set()
        batched: list[dict[str, Any]] = []
        for kind, picks in sequence:
            _apply(model, kind, picks)
            ops = _operation(kind, picks, ids)
            if one_request:
                batched.extend(ops)
            elif ops:
                response = patch(scim, f"/Groups/{group['id']}", *ops)
                assert response.status_code == 204, response.text
        if one_request and batched:
            response = patch(scim, f"/Groups/{group['id']}", *batched)
            assert response.status_code == 204, response.text
        assert member_ids(scim, group["id"]) == {ids[i] for i in model}

    check()
