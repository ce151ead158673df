"""Throughput of the Jira sandbox: the real ``jira`` client against plain ``httpx``.

``python -m okr_sandboxes.bench --issues 50000`` starts the runner in a child process (so the
server does not share this interpreter) and pages the same query three ways, printing one JSON
line per run: plain httpx discarding the bodies (the baseline of ``bench/sync_throughput.py``),
httpx decoding the JSON, the ``jira`` client paged by hand with ``json_result=True`` and
``jira.JIRA.search_issues(maxResults=False)`` (which builds a Resource object per issue). The
first pass of a query renders and caches every issue's JSON in the server; ``--warm`` pages
once before timing.
The helpers are importable for the product's benchmarks.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from okr_sandboxes.api import JiraSandbox, spawn_sandboxes

JQL = "project in (ENG, OPS) ORDER BY updated ASC, key ASC"


@dataclass(frozen=True)
class Run:
    how: str
    issues: int
    pages: int
    seconds: float

    @property
    def issues_per_second(self) -> float:
        return self.issues / self.seconds if self.seconds else 0.0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "issues_per_second": round(self.issues_per_second),
            "pages_per_second": round(self.pages_per_second, 1),
        }


def page_with_httpx(
    sandbox: JiraSandbox,
    jql: str = JQL,
    *,
    fields: str = "*all",
    page_size: int = 100,
    decode: bool = False,
) -> Run:
    """Page ``search/jql`` with httpx. Without ``decode`` the body is read and discarded,
    except for the ``nextPageToken`` (found with a string search, not a JSON parse)."""
    issues = pages = 0
    token: str | None = None
    started = time.perf_counter()
    with httpx.Client(auth=(sandbox.email, sandbox.api_token), timeout=60.0) as http:
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": page_size}
            if token:
                params["nextPageToken"] = token
            response = http.get(sandbox.base_url + "/rest/api/2/search/jql", params=params)
            response.raise_for_status()
            pages += 1
            if decode:
                body = response.json()
                issues += len(body["issues"])
                token = body.get("nextPageToken")
            else:
                text = response.text
                issues += text.count('{"expand":')
                token = _token(text)
            if not token:
                break
    return Run("httpx-decode" if decode else "httpx-discard", issues, pages, _since(started))


def page_with_jira(sandbox: JiraSandbox, jql: str = JQL, *, fields: str | None = None) -> Run:
    """``jira.JIRA(...).search_issues(jql, maxResults=False)``, as the connector calls it."""
    from jira import JIRA

    client = JIRA(
        server=sandbox.base_url, basic_auth=(sandbox.email, sandbox.api_token), max_retries=0
    )
    sandbox.reset_requests()
    started = time.perf_counter()
    result = client.search_issues(jql, maxResults=False, fields=fields)
    seconds = _since(started)
    pages = sandbox.requests()["by_route"].get("GET /rest/api/{version}/search/jql", 0)
    return Run("jira-client", len(result), pages, seconds)


def page_with_jira_json(
    sandbox: JiraSandbox, jql: str = JQL, *, fields: str = "*all", page_size: int = 100
) -> Run:
    """The real client paged by hand with ``json_result=True`` (plain dicts, no Resource
    objects): one request per call, so an outer retry layer can retry each page alone."""
    from jira import JIRA

    client = JIRA(
        server=sandbox.base_url, basic_auth=(sandbox.email, sandbox.api_token), max_retries=0
    )
    issues = pages = 0
    token: str | None = None
    started = time.perf_counter()
    while True:
        body = client.enhanced_search_issues(
            jql, nextPageToken=token, maxResults=page_size, fields=fields, json_result=True
        )
        assert isinstance(body, dict)
        pages += 1
        issues += len(body["issues"])
        token = body.get("nextPageToken")
        if not token:
            break
    return Run("jira-client-json", issues, pages, _since(started))


def _token(text: str) -> str | None:
    marker = '"nextPageToken":"'
    at = text.rfind(marker)
    if at < 0:
        return None
    start = at + len(marker)
    return text[start : text.index('"', start)]


def _since(started: float) -> float:
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m okr_sandboxes.bench")
    parser.add_argument("--issues", type=int, default=50_000)
    parser.add_argument("--warm", action="store_true", help="render every issue before timing")
    parser.add_argument("--fields", default=None, help="fields for the jira client (default all)")
    args = parser.parse_args(argv)
    with spawn_sandboxes(
        ["--no-github", "--tenant", "bench", "--issues", str(args.issues)], timeout=300
    ) as spawned:
        sandbox = spawned.jira[0]
        if args.warm:
            page_with_httpx(sandbox)
        runs = [
            page_with_httpx(sandbox),
            page_with_httpx(sandbox, decode=True),
            page_with_jira_json(sandbox),
            page_with_jira(sandbox, fields=args.fields),
        ]
        baseline = runs[0]
        for run in runs:
            ratio = run.issues_per_second / baseline.issues_per_second
            print(json.dumps({**run.to_json(), "ratio_to_httpx_discard": round(ratio, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
