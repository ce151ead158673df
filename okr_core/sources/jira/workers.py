"""Worker threads a sync's side work runs on, kept for the process instead of per sync.

A re-sync of a few hundred changed issues lasts tens of milliseconds, and it used to start
half a dozen threads (thread pools for the side requests, the early search and the landing, a
page prefetcher, the server-info check). Each ``Thread.start()`` waits until the new thread
runs, which on a busy machine is a scheduling round of its own. The pools here start their
threads once and reuse them (idle ones stay parked).

Each role has its own pool, and work in one pool only ever waits for work in another role's
pool (a search waits for the server-info check and its page producers; nothing waits for a
search), so a pool busy with waiting tasks cannot starve the tasks they wait for. Pools are
per process: a forked child gets new ones (the parent's threads do not exist there).

:class:`Tasks` tracks what one sync submitted, so that the sync returns only once all of it has
finished, as leaving a ``with ThreadPoolExecutor()`` block did.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

MAX_WORKERS = 64  # per role; threads start only when no idle one is free
_pools: dict[tuple[int, str], ThreadPoolExecutor] = {}
_lock = threading.Lock()


def pool(role: str) -> ThreadPoolExecutor:
    """The process's pool for ``role`` (its threads are named after it)."""
    key = (os.getpid(), role)
    found = _pools.get(key)
    if found is not None:
        return found
    with _lock:
        found = _pools.get(key)
        if found is None:
            found = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix=role)
            _pools[key] = found
        return found


class Tasks:
    """Work one caller submits to the shared pools; leaving the block waits for all of it."""

    def __init__(self) -> None:
        self._futures: list[Future[Any]] = []

    def submit(
        self, role: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Future[T]:
        future = pool(role).submit(fn, *args, **kwargs)
        self._futures.append(future)
        return future

    def adopt(self, futures: list[Future[Any]]) -> None:
        """Wait for these too (work submitted before the block)."""
        self._futures.extend(futures)

    def __enter__(self) -> Tasks:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        wait(self._futures)
