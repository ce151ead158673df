"""The GitHub sandbox through the real PyGithub client, as the connector will use it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from github import Auth, BadCredentialsException, Github, GithubException, UnknownObjectException

from okr_sandboxes import GitHubSandbox, run_github_sandbox

RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "x-ratelimit-resource",
)


def client(sandbox: GitHubSandbox, token: str | None = None) -> Github:
    return Github(
        base_url=sandbox.base_url,
        auth=Auth.Token(token or sandbox.token),
        per_page=100,
        seconds_between_requests=None,
        retry=None,
    )


def test_lists_pull_requests_across_link_pages(github_sandbox: GitHubSandbox) -> None:
    gh = client(github_sandbox)
    github_sandbox.reset_requests()

    repo = gh.get_repo("acme/api")
    pulls = list(repo.get_pulls(state="all", sort="updated", direction="desc"))

    log = github_sandbox.requests()
    expected = log["items_served"]
    assert len(pulls) == expected > 200
    assert len({p.number for p in pulls}) == len(pulls)
    assert log["by_route"]["GET /repos/{owner}/{repo}/pulls"] == math.ceil(len(pulls) / 100)
    updated = [p.updated_at for p in pulls]
    assert updated == sorted(updated, reverse=True)
    merged = [p for p in pulls if p.merged_at is not None]
    assert merged
    assert all(p.state == "closed" for p in merged)
    assert all(p.base.repo.full_name == "acme/api" for p in pulls)


def test_every_url_uses_the_sandbox_host(github_sandbox: GitHubSandbox) -> None:
    gh = client(github_sandbox)
    host = urlsplit(github_sandbox.base_url)

    repo = gh.get_repo("acme/web")
    pull = next(iter(repo.get_pulls(state="closed")))

    for url in (repo.url, pull.url, pull.base.repo.url, pull.user.url):
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == (host.hostname, host.port)
        assert parts.path.startswith(host.path)


def test_link_header_has_next_and_last(github_sandbox: GitHubSandbox) -> None:
    response = httpx.get(
        github_sandbox.base_url + "/repos/acme/api/pulls",
        params={"state": "all", "per_page": 50},
        headers={"Authorization": f"token {github_sandbox.token}"},
    )

    links = response.headers["link"].split(", ")
    assert links[0].endswith('; rel="next"')
    assert "page=2" in links[0]
    assert links[1].endswith('; rel="last"')
    assert len(response.json()) == 50
    assert "merged" not in response.json()[0]


def test_rate_limit_headers_on_every_response(github_sandbox: GitHubSandbox) -> None:
    headers = {"Authorization": f"token {github_sandbox.token}"}
    base = github_sandbox.base_url

    responses = [
        httpx.get(base + "/user", headers=headers),
        httpx.get(base + "/repos/acme/api/pulls", headers=headers),
        httpx.get(base + "/repos/acme/nope", headers=headers),
        httpx.get(base + "/user", headers={"Authorization": "token wrong"}),
    ]
    search = httpx.get(base + "/search/issues", params={"q": "repo:acme/api"}, headers=headers)

    for response in [*responses, search]:
        assert all(name in response.headers for name in RATE_HEADERS), response.headers
    assert responses[0].headers["x-ratelimit-resource"] == "core"
    assert search.headers["x-ratelimit-resource"] == "search"
    assert int(responses[1].headers["x-ratelimit-used"]) == 2
    gh = client(github_sandbox)
    gh.get_user().login  # noqa: B018 - makes the request
    remaining, limit = gh.rate_limiting
    assert limit == 5000
    assert remaining < limit
    assert gh.rate_limiting_resettime > datetime.now(UTC).timestamp()


def test_bad_token_is_401_bad_credentials(github_sandbox: GitHubSandbox) -> None:
    with pytest.raises(BadCredentialsException) as error:
        client(github_sandbox, token="ghp_wrong").get_repo("acme/api")

    assert error.value.status == 401
    assert error.value.data["message"] == "Bad credentials"


def test_unknown_repository_is_404(github_sandbox: GitHubSandbox) -> None:
    with pytest.raises(UnknownObjectException) as error:
        client(github_sandbox).get_repo("acme/nope")

    assert error.value.status == 404


def test_installation_token_works_too(github_sandbox: GitHubSandbox) -> None:
    gh = client(github_sandbox, token=github_sandbox.installation_token)

    assert [r.name for r in gh.get_organization("acme").get_repos()] == ["api", "web"]


def test_search_counts_merged_pull_requests_since_a_date(github_sandbox: GitHubSandbox) -> None:
    gh = client(github_sandbox)
    repo = gh.get_repo("acme/api")
    since = datetime(2026, 3, 1, tzinfo=UTC)
    expected = [p for p in repo.get_pulls(state="closed") if p.merged_at and p.merged_at >= since]

    found = gh.search_issues("repo:acme/api is:pr is:merged merged:>=2026-03-01")

    assert found.totalCount == len(expected) > 0
    assert {i.number for i in found} == {p.number for p in expected}
    item = next(iter(found))
    assert item.pull_request.url.startswith(github_sandbox.base_url)


def test_search_of_an_unknown_repository_is_422(github_sandbox: GitHubSandbox) -> None:
    with pytest.raises(GithubException) as error:
        client(github_sandbox).search_issues("repo:acme/nope is:pr").totalCount  # noqa: B018

    assert error.value.status == 422


def test_single_pull_request_reports_merged(github_sandbox: GitHubSandbox) -> None:
    repo = client(github_sandbox).get_repo("acme/api")
    number = next(p.number for p in repo.get_pulls(state="open"))

    github_sandbox.merge_pull("api", number)

    pull = repo.get_pull(number)
    assert pull.merged is True
    assert pull.state == "closed"
    assert pull.merged_at is not None


def test_exhausted_budget_answers_403_rate_limit() -> None:
    with run_github_sandbox(seed="tiny", pulls=5, rate_limit=3) as sandbox:
        headers = {"Authorization": f"token {sandbox.token}"}
        statuses = [httpx.get(sandbox.base_url + "/user", headers=headers) for _ in range(4)]

    assert [r.status_code for r in statuses] == [200, 200, 200, 403]
    assert statuses[-1].headers["x-ratelimit-remaining"] == "0"
    assert statuses[-1].json()["message"].startswith("API rate limit exceeded")
