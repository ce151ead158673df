"""Usage telemetry: recorded in memory on the request path, written by a background task."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from okr_api.public.runtime import PublicApiRuntime
from tests.okr_api.public.conftest import IssueKey, OkrData, bearer


def test_each_request_is_counted_by_key_route_template_and_status(
    public: TestClient, okrs_a: OkrData, issue_key: IssueKey, runtime: PublicApiRuntime
) -> None:
    key = issue_key(okrs_a.world, ["key_results:read"])
    kr = okrs_a.key_results[0]
    public.get(f"/api/v1/public/key-results/{kr.id}", headers=bearer(key))
    public.get(f"/api/v1/public/key-results/{okrs_a.key_results[1].id}", headers=bearer(key))
    public.get("/api/v1/public/objectives", headers=bearer(key))
    public.get("/api/v1/public/objectives")  # no key: nothing to attribute it to
    pending, last_use = runtime.usage.drain()
    counted = {(slot[3], slot[4]): delta.requests for slot, delta in pending.items()}
    assert counted == {
        ("/api/v1/public/key-results/{key_result_id}", 200): 2,
        ("/api/v1/public/objectives", 403): 1,
    }
    assert all(sum(d.histogram) == d.requests for d in pending.values())
    assert all(d.latency_ms_total > 0 for d in pending.values())
    assert [use.address for use in last_use.values()] == ["testclient"]


def test_background_task_flushes_on_its_interval_and_at_stop(runtime: PublicApiRuntime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"public_usage_flush_seconds": 0.05})
    calls: list[int] = []

    async def recorded_flush() -> int:
        calls.append(1)
        return 0

    runtime.flush_usage = recorded_flush  # type: ignore[method-assign]

    async def run() -> None:
        await runtime.start()
        await asyncio.sleep(0.3)
        await runtime.stop()

    asyncio.run(run())
    assert len(calls) >= 3  # several interval flushes, then the one at stop
