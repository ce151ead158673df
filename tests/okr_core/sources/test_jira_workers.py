"""The process's worker pools a Jira sync's side work runs on."""

from __future__ import annotations

import threading
import time

from okr_core.sources.jira import workers


def test_pools_reuse_their_threads_and_are_per_role() -> None:
    first = workers.pool("test-role").submit(threading.get_ident).result()
    time.sleep(0.01)  # the worker is idle again
    again = workers.pool("test-role").submit(threading.get_ident).result()
    assert first == again
    assert workers.pool("test-role") is workers.pool("test-role")
    assert workers.pool("test-other") is not workers.pool("test-role")
    name = workers.pool("test-other").submit(lambda: threading.current_thread().name).result()
    assert name.startswith("test-other")


def test_leaving_a_task_block_waits_for_everything_submitted() -> None:
    done: list[int] = []

    def slow(n: int) -> None:
        time.sleep(0.05)
        done.append(n)

    with workers.Tasks() as tasks:
        for n in range(3):
            tasks.submit("test-role", slow, n)
        assert len(done) < 3
    assert sorted(done) == [0, 1, 2]
