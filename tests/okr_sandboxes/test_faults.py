"""Fault injection: seeded, at the configured rate, with the vendors' own error shapes."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest
from jira import JIRA, JIRAError

from okr_sandboxes import FaultConfig, GitHubSandbox, JiraSandbox, run_jira_sandbox
from okr_sandboxes.faults import FaultInjector


def statuses(sandbox: JiraSandbox, count: int) -> list[httpx.Response]:
    auth = (sandbox.email, sandbox.api_token)
    with httpx.Client(auth=auth) as http:
        return [
            http.get(sandbox.base_url + "/rest/api/3/search/jql", params={"jql": "project = ENG"})
            for _ in range(count)
        ]


def test_fractions_of_429_and_5xx_match_the_settings(jira_sandbox: JiraSandbox) -> None:
    jira_sandbox.set_faults(rate_limited=0.1, retry_after=2, server_errors=0.1, seed="s1")

    responses = statuses(jira_sandbox, 400)

    counts = Counter(r.status_code for r in responses)
    assert 25 <= counts[429] <= 55
    assert 25 <= counts[500] + counts[502] + counts[503] <= 55
    assert min(counts[500], counts[502], counts[503]) > 0
    assert counts[200] == 400 - counts[429] - counts[500] - counts[502] - counts[503]
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["X-RateLimit-Reset"].endswith("Z")
    injected = jira_sandbox.faults()["injected"]
    assert injected["429"] == counts[429]
    assert jira_sandbox.requests()["by_status"]["429"] == counts[429]


def test_the_same_seed_gives_the_same_faults(jira_sandbox: JiraSandbox) -> None:
    jira_sandbox.set_faults(rate_limited=0.2, server_errors=0.2, seed="repeat")
    first = [r.status_code for r in statuses(jira_sandbox, 60)]
    jira_sandbox.set_faults(rate_limited=0.2, server_errors=0.2, seed="repeat")
    second = [r.status_code for r in statuses(jira_sandbox, 60)]
    jira_sandbox.set_faults(rate_limited=0.2, server_errors=0.2, seed="other")
    third = [r.status_code for r in statuses(jira_sandbox, 60)]

    assert first == second
    assert first != third


def test_jira_client_without_retries_sees_the_429(jira_sandbox: JiraSandbox) -> None:
    jira = JIRA(
        server=jira_sandbox.base_url,
        basic_auth=(jira_sandbox.email, jira_sandbox.api_token),
        max_retries=0,
    )
    jira_sandbox.set_faults(rate_limited=1.0, retry_after=7)

    with pytest.raises(JIRAError) as error:
        jira.search_issues("project = ENG")

    assert error.value.status_code == 429
    assert error.value.response.headers["Retry-After"] == "7"


def test_forced_401_and_clearing(jira_sandbox: JiraSandbox) -> None:
    jira_sandbox.set_faults(unauthorized=True)
    refused = statuses(jira_sandbox, 3)
    jira_sandbox.clear_faults()
    served = statuses(jira_sandbox, 1)

    assert [r.status_code for r in refused] == [401, 401, 401]
    assert served[0].status_code == 200


def test_slow_responses_are_delayed(jira_sandbox: JiraSandbox) -> None:
    jira_sandbox.set_faults(slow=1.0, delay=0.3)

    started = time.monotonic()
    responses = statuses(jira_sandbox, 2)

    assert time.monotonic() - started >= 0.6
    assert [r.status_code for r in responses] == [200, 200]


def test_faults_can_target_paths_and_spare_admin_calls(jira_sandbox: JiraSandbox) -> None:
    jira_sandbox.set_faults(server_errors=1.0, paths=["search/jql"])
    auth = (jira_sandbox.email, jira_sandbox.api_token)

    field = httpx.get(jira_sandbox.base_url + "/rest/api/2/field", auth=auth)
    search = statuses(jira_sandbox, 1)[0]

    assert field.status_code == 200
    assert search.status_code == 500
    assert jira_sandbox.state()["faults"]["config"]["server_errors"] == 1.0


def test_faults_configured_at_start() -> None:
    with run_jira_sandbox(seed="f", issues=10, faults={"server_errors": 1.0}) as sandbox:
        assert {r.status_code for r in statuses(sandbox, 5)} <= {500, 502, 503}


def test_github_faults_use_githubs_shapes(github_sandbox: GitHubSandbox) -> None:
    github_sandbox.set_faults(rate_limited=1.0, retry_after=3)
    headers = {"Authorization": f"token {github_sandbox.token}"}

    limited = httpx.get(github_sandbox.base_url + "/repos/acme/api", headers=headers)
    github_sandbox.set_faults(server_errors=1.0, error_statuses=[502])
    bad_gateway = httpx.get(github_sandbox.base_url + "/repos/acme/api", headers=headers)

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert "secondary rate limit" in limited.json()["message"]
    assert "x-ratelimit-remaining" in limited.headers
    assert bad_gateway.status_code == 502


@pytest.mark.parametrize(
    "settings",
    [
        {"rate_limited": 1.5},
        {"rate_limited": 0.6, "server_errors": 0.6},
        {"error_statuses": [404]},
        {"flavour": "x"},
    ],
)
def test_invalid_fault_settings_are_refused(jira_sandbox: JiraSandbox, settings: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the check below
        FaultConfig.from_json(settings)
    response = httpx.post(jira_sandbox.admin_url + "/faults", json=settings)
    assert response.status_code == 400


def test_injector_without_faults_never_draws() -> None:
    injector = FaultInjector()

    assert all(injector.decide("/x").status is None for _ in range(100))
