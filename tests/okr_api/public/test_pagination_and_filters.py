"""Cursor pagination, filters and sorting of the public lists."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.public.runtime import PublicApiRuntime
from okr_core import key_results, objectives
from okr_core.tenancy import tenant_context
from tests.okr_api.public.conftest import ACTOR, IssueKey, OkrData, bearer, make_world, seed_okrs

KRS = "/api/v1/public/key-results"
OBJECTIVES = "/api/v1/public/objectives"


def _add_krs(session: Session, data: OkrData, count: int, *, tag: str) -> list[str]:
    ids = []
    with tenant_context(session, data.world.tenant.id):
        for index in range(count):
            kr = key_results.create_key_result(
                session,
                actor=ACTOR,
                objective_id=data.objectives[1].id,
                title=f"{tag} {index}",
                start_value=0,
                target_value=10,
            )
            ids.append(str(kr.id))
    session.flush()
    return ids


def _walk(client: TestClient, url: str, key: str, on_page: object = None) -> list[str]:
    seen: list[str] = []
    response = client.get(url, headers=bearer(key))
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(row["id"] for row in body["data"])
        if on_page is not None:
            on_page()  # type: ignore[operator]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            assert "next" not in response.links
            return seen
        assert response.links["next"]["url"].endswith(f"cursor={body['next_cursor']}")
        response = client.get(response.links["next"]["url"], headers=bearer(key))


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "title", "-updated_at"])
def test_walk_returns_every_row_once_under_concurrent_inserts(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, session: Session, sort: str
) -> None:
    existing = [str(kr.id) for kr in okrs_a.key_results] + _add_krs(
        session, okrs_a, 9, tag="before"
    )
    key = issue_key(okrs_a.world, ["key_results:read"])
    inserted: list[str] = []
    seen = _walk(
        public,
        f"{KRS}?limit=3&sort={sort}",
        key,
        on_page=lambda: inserted.extend(
            _add_krs(session, okrs_a, 2, tag=f"during {len(inserted)}")
        ),
    )
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert set(existing) <= set(seen), "a row present throughout the walk was skipped"
    assert set(seen) <= set(existing) | set(inserted)


def test_default_page_size_and_limit_bounds(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, session: Session
) -> None:
    _add_krs(session, okrs_a, 60, tag="many")
    key = issue_key(okrs_a.world, ["key_results:read"])
    body = public.get(KRS, headers=bearer(key)).json()
    assert len(body["data"]) == 50
    assert body["has_more"] is True
    for bad in ("0", "201", "x"):
        response = public.get(f"{KRS}?limit={bad}", headers=bearer(key))
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "limit"


def _tamper(cursor: str) -> str:
    payload, signature = cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["i"] = "0" * 32
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


def test_tampered_or_garbled_cursor_is_400(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    cursor = public.get(f"{KRS}?limit=1", headers=bearer(key)).json()["next_cursor"]
    assert cursor
    for bad in (_tamper(cursor), cursor[:-2], "not-a-cursor", cursor.replace(".", "")):
        response = public.get(f"{KRS}?limit=1&cursor={bad}", headers=bearer(key))
        assert response.status_code == 400, bad
        assert response.json()["code"] == "invalid_cursor"


def test_foreign_cursor_is_400(
    public: TestClient, okrs_a: OkrData, session: Session, issue_key: IssueKey
) -> None:
    key_a = issue_key(okrs_a.world)
    cursor = public.get(f"{KRS}?limit=1", headers=bearer(key_a)).json()["next_cursor"]
    other = seed_okrs(session, make_world(session, "public-c"))
    key_c = issue_key(other.world)
    cases = [
        (f"{KRS}?limit=1&cursor={cursor}", key_c),  # another tenant
        (f"{OBJECTIVES}?limit=1&cursor={cursor}", key_a),  # another list
        (f"{KRS}?limit=1&sort=title&cursor={cursor}", key_a),  # another sort
        (f"{KRS}?limit=1&status=active&cursor={cursor}", key_a),  # other filters
    ]
    for url, key in cases:
        response = public.get(url, headers=bearer(key))
        assert response.status_code == 400, url
        assert response.json()["code"] == "invalid_cursor"
    ok = public.get(f"{KRS}?limit=2&cursor={cursor}", headers=bearer(key_a))  # limit may change
    assert ok.status_code == 200


def test_unknown_filter_or_value_is_400_listing_the_valid_ones(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world)
    unknown = public.get(f"{OBJECTIVES}?colour=red", headers=bearer(key))
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["detail"]
    assert {"period", "owner", "status", "parent", "updated_since", "sort"} <= set(
        unknown.json()["valid"]
    )
    bad_status = public.get(f"{OBJECTIVES}?status=done", headers=bearer(key))
    assert bad_status.status_code == 400
    assert "'active', 'completed' or 'archived'" in bad_status.json()["detail"]
    bad_sort = public.get(f"{OBJECTIVES}?sort=description", headers=bearer(key))
    assert bad_sort.status_code == 400
    assert "-updated_at" in bad_sort.json()["detail"]
    bad_period = public.get(f"{OBJECTIVES}?period=2026-Q5", headers=bearer(key))
    assert bad_period.status_code == 400
    bad_time = public.get(f"{KRS}?updated_since=yesterday", headers=bearer(key))
    assert bad_time.status_code == 400


def test_filters(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, session: Session
) -> None:
    key = issue_key(okrs_a.world)
    first, second = okrs_a.objectives
    owner = okrs_a.world.owner.id

    def ids(url: str) -> set[str]:
        response = public.get(url, headers=bearer(key))
        assert response.status_code == 200, response.text
        return {row["id"] for row in response.json()["data"]}

    assert ids(f"{OBJECTIVES}?period=2026-Q4") == {str(first.id)}
    assert ids(f"{OBJECTIVES}?owner={owner}") == {str(first.id)}
    kr_ids = [str(kr.id) for kr in okrs_a.key_results]
    assert ids(f"{KRS}?objective={second.id}") == set(kr_ids[2:])
    assert ids(f"{KRS}?period=2026-Q3") == set(kr_ids[2:])
    assert ids(f"{KRS}?owner={owner}") == {kr_ids[0], kr_ids[2]}
    with tenant_context(session, okrs_a.world.tenant.id):
        child = objectives.create_objective(
            session, actor=ACTOR, title="child", period="2026-Q4", parent_id=first.id
        )
        key_results.archive_key_result(session, actor=ACTOR, key_result_id=okrs_a.key_results[3].id)
        objectives.archive_objective(session, actor=ACTOR, objective_id=second.id)
    session.flush()
    assert ids(f"{OBJECTIVES}?parent={first.id}") == {str(child.id)}
    assert ids(f"{OBJECTIVES}?status=archived") == {str(second.id)}
    assert ids(f"{KRS}?status=archived") == {kr_ids[3]}


def test_updated_since_supports_incremental_pulls(
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    session: Session,
    runtime: PublicApiRuntime,
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    everything = public.get(f"{KRS}?updated_since=2000-01-01T00:00:00Z", headers=bearer(key))
    assert len(everything.json()["data"]) == 4
    mark = (datetime.now(UTC) + timedelta(milliseconds=1)).isoformat()
    assert public.get(KRS, params={"updated_since": mark}, headers=bearer(key)).json()["data"] == []
    with tenant_context(session, okrs_a.world.tenant.id):
        key_results.update_key_result(
            session, actor=ACTOR, key_result_id=okrs_a.key_results[1].id, changes={"unit": "%"}
        )
    session.flush()
    runtime.versions.clear()  # the data version is re-read within a second by itself
    changed = public.get(KRS, params={"updated_since": mark}, headers=bearer(key)).json()["data"]
    assert [row["id"] for row in changed] == [str(okrs_a.key_results[1].id)]
