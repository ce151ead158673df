"""The one retry layer for source calls: exponential backoff with full jitter, bounded.

The vendor libraries' own retries and pacing are switched off (``JIRA(max_retries=0)``,
``Github(retry=None, seconds_between_requests=None, ...)``), so every 429 and 5xx reaches this
layer exactly once per request. Each request (one page, one lookup) is retried on its own, so a
fault on page 400 of a large sync repeats one page, not the whole sync. Permanent errors are
never retried. Dagster's step ``RetryPolicy`` is reserved for whole-batch infrastructure
failures and never sees a source error.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from okr_core.sources.errors import TransientSourceError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` tries per request; waits grow as ``base_delay * 2**n`` up to
    ``max_delay`` with full jitter, but never below a server's ``Retry-After`` (which is itself
    capped at ``max_retry_after``: a longer wait fails the request and the next sync retries).
    ``budget`` bounds the total time one connector may spend waiting, across all its requests.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    budget: float = 300.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait = rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


NO_RETRY = RetryPolicy(max_attempts=1)
# The binding preview runs while an admin waits: a couple of quick retries, then an answer.
PREVIEW_RETRY = RetryPolicy(max_attempts=3, base_delay=0.25, max_delay=2.0, budget=10.0)


@dataclass
class Retrier:
    """Applies a :class:`RetryPolicy` to calls and counts what happened (for the sync run)."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    retries: int = 0
    waited: float = 0.0
    last_transient: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return fn()
            except TransientSourceError as exc:
                if attempt >= self.policy.max_attempts:
                    raise TransientSourceError(
                        f"{exc.message} (gave up after {attempt} attempts)",
                        status=exc.status,
                        retry_after=exc.retry_after,
                    ) from exc
                if exc.retry_after is not None and exc.retry_after > self.policy.max_retry_after:
                    raise
                wait = self.policy.delay(attempt, exc.retry_after, self.rng)
                with self._lock:
                    if self.waited + wait > self.policy.budget:
                        raise TransientSourceError(
                            f"{exc.message} (retry budget of {self.policy.budget:.0f}s spent)",
                            status=exc.status,
                            retry_after=exc.retry_after,
                        ) from exc
                    self.retries += 1
                    self.waited += wait
                    self.last_transient = exc.message
                log.info("%s: %s; retry %d in %.2fs", what, exc.message, attempt, wait)
                self.sleep(wait)
                attempt += 1
