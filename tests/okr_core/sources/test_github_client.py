"""The GitHub connector on PyGithub, against the GitHub sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from okr_core.sources.errors import PermanentSourceError, TransientSourceError
from okr_core.sources.github.client import GitHubConnector, normalise_repositories
from okr_core.sources.retry import Retrier, RetryPolicy
from okr_sandboxes import GitHubSandbox, run_github_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="github-client", pulls=320) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def clean(sandbox: GitHubSandbox) -> Iterator[None]:
    sandbox.clear_faults()
    sandbox.reset_requests()
    yield
    sandbox.clear_faults()


def connector(sandbox: GitHubSandbox, waits: list[float] | None = None) -> GitHubConnector:
    return GitHubConnector(
        base_url=sandbox.base_url,
        token=sandbox.token,
        retrier=Retrier(
            policy=RetryPolicy(max_attempts=8, base_delay=0.01),
            sleep=waits.append if waits is not None else (lambda _: None),
        ),
    )


def test_repositories_are_normalised() -> None:
    assert normalise_repositories(["Acme/API", "acme/api", "https://github.com/acme/web"]) == [
        "acme/api",
        "acme/web",
    ]
    with pytest.raises(PermanentSourceError, match="owner/name"):
        normalise_repositories(["just-a-name"])


def test_lists_every_pull_request_page_by_page_without_extra_requests(
    sandbox: GitHubSandbox,
) -> None:
    github = connector(sandbox)
    batches = list(github.pull_requests("acme/api", updated_since=None))
    records = [r for b in batches for r in b.records]
    assert len(batches) >= 2
    assert len({r["pull_request_id"] for r in records}) == len(records)
    assert all(r["repository"] == "acme/api" for r in records)
    assert any(r["merged_at"] is not None for r in records)
    # One request per page: reading merged_at never fetched single pull requests.
    assert sandbox.requests()["total"] == len(batches)


def test_incremental_listing_stops_at_the_watermark(sandbox: GitHubSandbox) -> None:
    github = connector(sandbox)
    records = [r for b in github.pull_requests("acme/api", updated_since=None) for r in b.records]
    third = sorted((r["updated_at"] for r in records), reverse=True)[2]
    sandbox.reset_requests()
    recent = [r for b in github.pull_requests("acme/api", updated_since=third) for r in b.records]
    assert len(recent) == 3
    assert sandbox.requests()["total"] == 1


def test_rate_limits_and_server_errors_are_retried(sandbox: GitHubSandbox) -> None:
    waits: list[float] = []
    github = connector(sandbox, waits)
    sandbox.set_faults(rate_limited=0.3, server_errors=0.2, retry_after=2, seed="gh")
    records = [r for b in github.pull_requests("acme/web", updated_since=None) for r in b.records]
    statuses = sandbox.requests()["by_status"]
    assert statuses.get("429", 0) + sum(v for k, v in statuses.items() if k.startswith("5")) >= 1
    assert len(waits) == sandbox.requests()["total"] - statuses["200"]
    assert records


def test_bad_token_and_missing_repository_are_permanent(sandbox: GitHubSandbox) -> None:
    bad = GitHubConnector(base_url=sandbox.base_url, token="ghp_wrong_token_value")
    with pytest.raises(PermanentSourceError, match="401") as raised:
        bad.check_connection()
    assert "ghp_wrong_token_value" not in str(raised.value)
    with pytest.raises(PermanentSourceError, match="404"):
        list(connector(sandbox).pull_requests("acme/nothing-here", updated_since=None))
    assert sandbox.requests()["by_status"] == {"401": 1, "404": 1}


def test_persistent_server_errors_give_up_as_transient(sandbox: GitHubSandbox) -> None:
    sandbox.set_faults(server_errors=1.0)
    github = GitHubConnector(
        base_url=sandbox.base_url,
        token=sandbox.token,
        retrier=Retrier(policy=RetryPolicy(max_attempts=2), sleep=lambda _: None),
    )
    with pytest.raises(TransientSourceError, match="gave up after 2 attempts"):
        list(github.pull_requests("acme/api", updated_since=None))
    assert sandbox.requests()["total"] == 2


def test_an_installation_token_is_checked_against_its_repositories(sandbox: GitHubSandbox) -> None:
    installation = GitHubConnector(
        base_url=sandbox.base_url,
        token=sandbox.installation_token,
        account="acme",
        installation=True,
    )
    check = installation.check_connection()
    assert check.ok
    assert check.account == "acme"
    assert "repositories" in check.detail
