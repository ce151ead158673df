"""ETag / If-None-Match on lists and items, and a deprecated filter alias with its headers."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okr_api.public.runtime import PublicApiRuntime
from okr_core import key_results
from okr_core.tenancy import tenant_context
from tests.okr_api.public.conftest import ACTOR, IssueKey, OkrData, bearer

KRS = "/api/v1/public/key-results"


def test_if_none_match_answers_304_until_the_data_changes(
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    session: Session,
    runtime: PublicApiRuntime,
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    kr = okrs_a.key_results[0]
    for url in (f"{KRS}?limit=2", f"{KRS}/{kr.id}", f"{KRS}/{kr.id}/check-ins"):
        first = public.get(url, headers=bearer(key))
        etag = first.headers["ETag"]
        again = public.get(url, headers={**bearer(key), "If-None-Match": etag})
        assert again.status_code == 304, url
        assert again.content == b""
        assert again.headers["ETag"] == etag
        assert "RateLimit" in again.headers
        other = public.get(url, headers={**bearer(key), "If-None-Match": 'W/"stale"'})
        assert other.status_code == 200
    etag = public.get(f"{KRS}/{kr.id}", headers=bearer(key)).headers["ETag"]
    assert public.get(f"{KRS}?limit=3", headers=bearer(key)).headers["ETag"] != etag
    with tenant_context(session, okrs_a.world.tenant.id):
        key_results.update_key_result(
            session, actor=ACTOR, key_result_id=kr.id, changes={"title": "renamed"}
        )
    session.flush()
    runtime.versions.clear()  # the data version's cache expires by itself within a second
    changed = public.get(f"{KRS}/{kr.id}", headers={**bearer(key), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["title"] == "renamed"
    assert changed.headers["ETag"] != etag


def test_etags_differ_between_tenants(
    public: TestClient, okrs_a: OkrData, okrs_b: OkrData, issue_key: IssueKey
) -> None:
    tag_a = public.get(KRS, headers=bearer(issue_key(okrs_a.world))).headers["ETag"]
    key_b = issue_key(okrs_b.world)
    response_b = public.get(KRS, headers={**bearer(key_b), "If-None-Match": tag_a})
    assert response_b.status_code == 200
    assert response_b.headers["ETag"] != tag_a


def test_deprecated_filter_alias_works_with_deprecation_headers(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    objective = okrs_a.objectives[0].id
    new = public.get(f"{KRS}?objective={objective}", headers=bearer(key))
    old = public.get(f"{KRS}?objective_id={objective}", headers=bearer(key))
    assert old.status_code == 200
    assert old.json()["data"] == new.json()["data"]
    assert "Deprecation" not in new.headers
    assert old.headers["Deprecation"].startswith("@")
    deprecated_at = int(old.headers["Deprecation"][1:])
    sunset = parsedate_to_datetime(old.headers["Sunset"])
    assert sunset.timestamp() > deprecated_at
    assert 'rel="deprecation"' in old.headers["Link"]
    page = old.headers["Link"].split(";")[0].strip("<>")
    docs = public.get(page)
    assert docs.status_code == 200
    assert 'id="key-results-objective-id"' in docs.text
    conflict = public.get(
        f"{KRS}?objective={objective}&objective_id={okrs_a.objectives[1].id}", headers=bearer(key)
    )
    assert conflict.status_code == 400


def test_spec_marks_the_alias_deprecated(public: TestClient) -> None:
    spec = public.get("/api/v1/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"][KRS]["get"]["parameters"]}
    assert params["objective_id"]["deprecated"] is True
    assert not params["objective"].get("deprecated")
    assert public.get("/api/v1/docs").status_code == 200


def test_docs_render_from_our_own_assets(public: TestClient) -> None:
    """No CDN: the docs page must work on a network that reaches nothing but this service."""
    page = public.get("/api/v1/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, "the docs page names no assets"
    assert all(url.startswith("/") and not url.startswith("//") for url in assets), assets
    for url in assets:
        assert public.get(url).status_code == 200, url


def test_repeated_pages_come_from_memory_until_the_version_moves(
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    session: Session,
    runtime: PublicApiRuntime,
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    url = f"{KRS}?limit=2"
    first = public.get(url, headers=bearer(key))
    reads: list[object] = []
    original = runtime.read

    def counting_read(work: object) -> object:
        reads.append(work)
        return original(work)  # type: ignore[arg-type]

    runtime.read = counting_read  # type: ignore[method-assign]
    again = public.get(url, headers=bearer(key))
    assert again.content == first.content
    assert again.headers["Link"] == first.headers["Link"]
    assert reads == []  # served from the representation cache
    with tenant_context(session, okrs_a.world.tenant.id):
        key_results.update_key_result(
            session, actor=ACTOR, key_result_id=okrs_a.key_results[0].id, changes={"unit": "pts"}
        )
    session.flush()
    runtime.versions.clear()
    fresh = public.get(url, headers=bearer(key))
    assert fresh.json()["data"][0]["unit"] == "pts"
    assert len(reads) == 2  # the version, then the page
