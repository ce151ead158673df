"""Rate limits on memory and on a real Redis: headers, 429 at the limit, recovery after the
window, per-tenant limits and overrides, counters shared between processes, and fail-open when
Redis stops in the middle of a test."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from limits import parse
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from okr_api.public.ratelimit import Policy, RateLimiter
from okr_api.public.runtime import PublicApiRuntime
from okr_core import api_keys
from okr_core.tenancy import tenant_context
from tests.okr_api.public.conftest import ACTOR, IssueKey, OkrData, bearer

URL = "/api/v1/public/objectives"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
Limit = Callable[..., RateLimiter]


@pytest.fixture
def limit(runtime: PublicApiRuntime) -> Limit:
    """Swap the app's limiter for one with the given limits (and Redis, if a URL is given)."""

    def make(
        per_key: str = "100/minute",
        per_tenant: str = "1000/minute",
        anonymous: str = "100/minute",
        redis_url: str | None = None,
    ) -> RateLimiter:
        settings = runtime.settings.model_copy(
            update={
                "public_rate_limit_per_key": per_key,
                "public_rate_limit_per_tenant": per_tenant,
                "public_rate_limit_anonymous": anonymous,
                "redis_url": redis_url,
            }
        )
        runtime.limiter = RateLimiter(settings, redis_key_prefix=f"okr-test-{uuid.uuid4().hex}")
        return runtime.limiter

    return make


def _policy(header: str) -> dict[str, dict[str, int]]:
    found = {}
    for name, params in re.findall(r'"([a-z]+)";([^,]+)', header):
        found[name] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", params)}
    return found


def test_every_response_carries_the_headers(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, limit: Limit
) -> None:
    limit(per_key="5/minute", per_tenant="50/minute", anonymous="7/minute")
    key = issue_key(okrs_a.world, ["objectives:read"])
    ok = public.get(URL, headers=bearer(key))
    assert _policy(ok.headers["RateLimit-Policy"]) == {
        "key": {"q": 5, "w": 60},
        "tenant": {"q": 50, "w": 60},
    }
    state = _policy(ok.headers["RateLimit"])
    assert state["key"]["r"] == 4
    assert state["tenant"]["r"] == 49
    assert 0 < state["key"]["t"] <= 60
    assert ok.headers["X-RateLimit-Limit"] == "5"
    assert ok.headers["X-RateLimit-Remaining"] == "4"
    assert 0 < int(ok.headers["X-RateLimit-Reset"]) - time.time() <= 61
    others = [
        public.get(URL, headers={**bearer(key), "If-None-Match": ok.headers["ETag"]}),  # 304
        public.get("/api/v1/public/key-results", headers=bearer(key)),  # 403
        public.get(f"{URL}/{uuid.uuid4()}", headers=bearer(key)),  # 404
        public.get(f"{URL}?nope=1", headers=bearer(key)),  # 400
    ]
    assert [r.status_code for r in others] == [304, 403, 404, 400]
    assert [r.headers["X-RateLimit-Remaining"] for r in others] == ["3", "2", "1", "0"]
    no_such_route = public.get("/api/v1/public/no-such-thing", headers=bearer(key))
    assert no_such_route.status_code == 429  # the quota is spent, even for unknown paths
    assert "Retry-After" in no_such_route.headers
    anonymous = public.get(URL)
    assert anonymous.status_code == 401
    assert _policy(anonymous.headers["RateLimit-Policy"]) == {"anonymous": {"q": 7, "w": 60}}
    assert _policy(anonymous.headers["RateLimit"])["anonymous"]["r"] == 6


def _exhaust_and_recover(client: TestClient, key: str) -> None:
    """Three allowed in a 5 s window (wide enough that a loaded machine still sends the fourth
    inside it), the fourth refused, and allowed again once the window has passed."""
    statuses = [client.get(URL, headers=bearer(key)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = client.get(URL, headers=bearer(key))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 5
    assert body["retry_after_seconds"] == retry_after
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.25)
        again = client.get(URL, headers=bearer(key))
        if again.status_code == 200:
            assert int(again.headers["X-RateLimit-Remaining"]) >= 1
            return
        assert again.status_code == 429
    pytest.fail("the limit did not recover after its window")


def test_429_at_the_limit_and_recovery_in_memory(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, limit: Limit
) -> None:
    assert limit(per_key="3/5 seconds").backend == "memory"
    _exhaust_and_recover(public, issue_key(okrs_a.world))


def test_429_at_the_limit_and_recovery_on_redis(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, limit: Limit
) -> None:
    limiter = limit(per_key="3/5 seconds", redis_url=SHARED_REDIS)
    assert limiter.backend == "redis"
    before = limiter.fail_open_total
    _exhaust_and_recover(public, issue_key(okrs_a.world))
    assert limiter.fail_open_total == before, "the requests were not counted in Redis"


def test_per_tenant_limit_spans_its_keys(
    public: TestClient, okrs_a: OkrData, okrs_b: OkrData, issue_key: IssueKey, limit: Limit
) -> None:
    limit(per_key="10/minute", per_tenant="3/minute")
    first, second = issue_key(okrs_a.world), issue_key(okrs_a.world)
    other_tenant = issue_key(okrs_b.world)
    assert [public.get(URL, headers=bearer(k)).status_code for k in (first, second, first)] == [
        200,
        200,
        200,
    ]
    refused = public.get(URL, headers=bearer(second))
    assert refused.status_code == 429
    assert "tenant" in refused.json()["detail"]
    assert refused.headers["X-RateLimit-Resource"] == "tenant"
    assert public.get(URL, headers=bearer(other_tenant)).status_code == 200


def test_operator_override_for_one_tenant(
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    limit: Limit,
    session: Session,
    runtime: PublicApiRuntime,
) -> None:
    limit(per_key="100/minute")
    key = issue_key(okrs_a.world)
    with tenant_context(session, okrs_a.world.tenant.id):
        api_keys.set_rate_limits(session, actor=ACTOR, per_key="2/minute", per_tenant=None)
    session.flush()
    runtime.keys.clear()
    statuses = [public.get(URL, headers=bearer(key)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_redis_counters_are_shared_between_processes(runtime: PublicApiRuntime) -> None:
    """Two limiters (as in two API processes) on one Redis count against one quota."""
    prefix = f"okr-test-{uuid.uuid4().hex}"
    settings = runtime.settings.model_copy(update={"redis_url": SHARED_REDIS})
    item = parse("4/minute")
    policy = [Policy("key", item, "shared")]

    async def run() -> list[bool]:
        first = RateLimiter(settings, redis_key_prefix=prefix)
        second = RateLimiter(settings, redis_key_prefix=prefix)
        results = []
        for limiter in (first, second, first, second, first):
            results.append((await limiter.hit(policy)).exceeded is None)
        await first.close()
        await second.close()
        return results

    assert asyncio.run(run()) == [True, True, True, True, False]
    keys = redis.Redis.from_url(SHARED_REDIS).keys(f"{prefix}*")
    assert keys


def _fail_open_metric() -> float:
    return REGISTRY.get_sample_value("okr_public_api_rate_limit_fail_open_total") or 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, so stopping it never disturbs the shared one."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url, process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


def test_fail_open_when_redis_stops_mid_test(
    public: TestClient,
    okrs_a: OkrData,
    issue_key: IssueKey,
    limit: Limit,
    private_redis: tuple[str, subprocess.Popen[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, server = private_redis
    limiter = limit(per_key="4/minute", redis_url=url)
    key = issue_key(okrs_a.world)
    assert public.get(URL, headers=bearer(key)).status_code == 200
    assert limiter.fail_open_total == 0
    assert redis.Redis.from_url(url).keys("okr-test-*")  # counted in this Redis
    server.terminate()
    server.wait(timeout=10)
    counter_before = _fail_open_metric()
    caplog.set_level(logging.WARNING, logger="okr_api.public.ratelimit")
    statuses = [public.get(URL, headers=bearer(key)).status_code for _ in range(5)]
    assert 500 not in statuses
    assert statuses == [200, 200, 200, 200, 429]  # the memory limiter took over the quota
    assert limiter.fail_open_total == 5  # every request while Redis was down
    assert _fail_open_metric() - counter_before == 5
    assert "fail open" in caplog.text
    last = public.get(URL, headers=bearer(key))
    assert "RateLimit" in last.headers
