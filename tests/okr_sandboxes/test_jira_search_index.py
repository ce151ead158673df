"""The sandbox answers like a search index: an ``updated`` range bisects, match sets catch up
with changes. Whatever the shortcut, the answer equals testing every issue."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from okr_sandboxes.jira.app import JiraSite, JiraSiteConfig
from okr_sandboxes.jira.data import now_ms, to_ms
from okr_sandboxes.jira.jql import compile_query, run

ANCHOR = datetime(2026, 3, 31, tzinfo=UTC)


def site() -> JiraSite:
    return JiraSite(
        JiraSiteConfig(name="index", seed="index", issues=300, anchor=ANCHOR), httpx.AsyncClient
    )


def scanned(s: JiraSite, jql: str) -> list[str]:
    query = compile_query(jql, s.data, now=now_ms(), current_user=s.me)
    return [i.key for i in run(query, list(s.data.issues.values()))]


def searched(s: JiraSite, jql: str) -> list[str]:
    return [i.key for i in s.search(jql)[1]]


def counted(s: JiraSite, jql: str) -> int:
    query = compile_query(jql, s.data, now=now_ms(), current_user=s.me)
    assert s.count(query) == len(s.matching(query))
    return s.count(query)


def test_updated_ranges_give_what_a_full_scan_gives() -> None:
    s = site()
    since = to_ms(ANCHOR) - 10 * 86_400_000
    for jql in (
        f"project = ENG AND updated >= {since} ORDER BY updated ASC, key ASC",
        f"(project in (ENG, OPS)) AND updated > {since} ORDER BY updated ASC, key ASC",
        f'updated >= "{ANCHOR:%Y/%m/%d}" OR project = OPS',  # OR: no bound, still right
        "updated >= -3d AND statusCategory != Done",
    ):
        assert searched(s, jql) == scanned(s, jql), jql
    query = compile_query(f"project = ENG AND updated >= {since}", s.data, now=now_ms())
    assert query.updated_from == since
    assert compile_query(f"updated >= {since} OR project = ENG", s.data, now=0).updated_from is None

    keys = scanned(s, "project = ENG ORDER BY key ASC")[:5]
    before = now_ms() - 1
    for key in keys:
        s.data.update(key, {"summary": f"changed {key}"})
    recent = f"project = ENG AND updated >= {before} ORDER BY updated ASC, key ASC"
    assert searched(s, recent) == scanned(s, recent) == keys


def test_cached_match_sets_follow_creates_updates_moves_and_deletes() -> None:
    s = site()
    jql = "project = ENG AND statusCategory != Done"
    assert counted(s, jql) == len(scanned(s, jql))
    # The same restriction written differently shares the match set.
    assert counted(s, f"({jql}) ORDER BY updated DESC") == len(scanned(s, jql))
    open_keys = scanned(s, jql)
    s.data.update(open_keys[0], {"status": "Done"})  # leaves
    s.data.update(open_keys[1], {"project": "OPS"})  # moves out
    s.data.delete(open_keys[2])  # gone
    s.data.create(project="ENG")  # enters
    s.data.update(scanned(s, "project = OPS AND statusCategory = Done")[0], {"project": "ENG"})
    s.data.update(open_keys[3], {"summary": "still open"})  # stays
    assert counted(s, jql) == len(scanned(s, jql)) == len(open_keys) - 3 + 1
    assert searched(s, jql + " ORDER BY key ASC") == scanned(s, jql + " ORDER BY key ASC")
