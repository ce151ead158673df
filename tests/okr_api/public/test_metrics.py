"""What the public API counts in its Prometheus metrics, read back through ``GET /metrics``:
requests by route template and status, 429s by policy, requests limited in memory while Redis
is unreachable (fail open), and failed usage flushes."""

from __future__ import annotations

import asyncio
import socket

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from okr_api.public.ratelimit import RateLimiter
from okr_api.public.runtime import PublicApiRuntime
from tests.okr_api.public.conftest import IssueKey, OkrData, bearer

URL = "/api/v1/public/objectives"
ITEM_ROUTE = "/api/v1/public/objectives/{objective_id}"
TOKEN = "metrics-token-for-the-tests-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def metrics_app(app: FastAPI) -> FastAPI:
    app.state.settings = app.state.settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    return app


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics", headers=bearer(TOKEN))
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _dead_port() -> int:
    with socket.socket() as probe:  # bound, never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_requests_are_counted_by_route_template_and_status(
    metrics_app: FastAPI, public: TestClient, okrs_a: OkrData, issue_key: IssueKey
) -> None:
    key = issue_key(okrs_a.world, ["objectives:read"])
    before = scrape(public)
    public.get(URL, headers=bearer(key))
    public.get(URL, headers=bearer(key))
    public.get(f"{URL}/{okrs_a.objectives[0].id}", headers=bearer(key))
    public.get(f"{URL}/{okrs_a.objectives[1].id}", headers=bearer(key))
    public.get(URL)  # no key
    after = scrape(public)

    def delta(route: str, status: str) -> float:
        name = "okr_public_api_requests_total"
        return value(after, name, route=route, status=status) - value(
            before, name, route=route, status=status
        )

    assert delta(URL, "200") == 2
    assert delta(ITEM_ROUTE, "200") == 2  # the template, never the id
    assert delta(URL, "401") == 1
    assert not any(str(okrs_a.objectives[0].id) in str(labels) for _, labels in after)
    count = "okr_public_api_request_duration_seconds_count"
    assert value(after, count, route=ITEM_ROUTE) - value(before, count, route=ITEM_ROUTE) == 2


def test_429s_are_counted_by_the_policy_that_refused(
    metrics_app: FastAPI,
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    runtime: PublicApiRuntime,
) -> None:
    runtime.limiter = RateLimiter(
        runtime.settings.model_copy(
            update={
                "public_rate_limit_per_key": "2/minute",
                "public_rate_limit_anonymous": "1/minute",
            }
        )
    )
    key = issue_key(okrs_a.world)
    before = scrape(public)
    statuses = [public.get(URL, headers=bearer(key)).status_code for _ in range(4)]
    anonymous = [public.get(URL).status_code for _ in range(3)]
    after = scrape(public)
    assert statuses == [200, 200, 429, 429]
    assert anonymous == [401, 429, 429]
    name = "okr_public_api_rate_limited_total"
    assert value(after, name, policy="key") - value(before, name, policy="key") == 2
    assert value(after, name, policy="anonymous") - value(before, name, policy="anonymous") == 2
    assert value(after, name, policy="tenant") == value(before, name, policy="tenant")
    requests = "okr_public_api_requests_total"
    assert (
        value(after, requests, route=URL, status="429")
        - value(before, requests, route=URL, status="429")
        == 4
    )


def test_fail_open_shows_in_metrics_when_redis_is_unreachable(
    metrics_app: FastAPI,
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    runtime: PublicApiRuntime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = f"redis://127.0.0.1:{_dead_port()}/0"
    runtime.limiter = RateLimiter(runtime.settings.model_copy(update={"redis_url": dead}))
    key = issue_key(okrs_a.world)
    name = "okr_public_api_rate_limit_fail_open_total"
    before = value(scrape(public), name)
    statuses = [public.get(URL, headers=bearer(key)).status_code for _ in range(3)]
    anonymous = public.get(URL)
    after = value(scrape(public), name)
    assert statuses == [200, 200, 200]  # the API keeps answering
    assert anonymous.status_code == 401
    assert after - before == 4  # every request limited in memory instead of Redis
    assert "fail open" in caplog.text
    assert "redis://" not in caplog.text  # no URL (it may hold a password) in the log


def test_failed_usage_flushes_are_counted(
    metrics_app: FastAPI,
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    runtime: PublicApiRuntime,
) -> None:
    key = issue_key(okrs_a.world)
    public.get(URL, headers=bearer(key))

    def failing_read(work: object) -> object:
        raise RuntimeError("database unavailable")

    name = "okr_public_api_usage_flush_failures_total"
    before = value(scrape(public), name)
    runtime.read = failing_read  # type: ignore[method-assign, assignment]
    assert asyncio.run(runtime.flush_usage()) == 0
    assert value(scrape(public), name) - before == 1
    assert runtime.usage.pending_requests == 1  # kept for the next flush
