"""Throttling of failed sign-ins, per account and per client address, with the limits library.

Counters live in memory by default and in Redis when ``OKR_REDIS_URL`` is set, so several API
processes share them.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from okr_core.errors import TooManyRequests
from okr_core.settings import Settings

logger = logging.getLogger(__name__)
NAMESPACE = "okr-login-failures"


class LoginThrottle:
    def __init__(self, settings: Settings) -> None:
        self._item: RateLimitItem = parse(settings.login_failures_allowed)
        storage = storage_from_string(settings.redis_url) if settings.redis_url else MemoryStorage()
        if not isinstance(storage, Storage):
            raise TypeError("OKR_REDIS_URL must name a synchronous storage (redis://...)")
        self._limiter = FixedWindowRateLimiter(storage)

    def check(self, *keys: str) -> None:
        """Raise TooManyRequests while any key has used up its failures."""
        for key in keys:
            if not self._limiter.test(self._item, NAMESPACE, key):
                stats = self._limiter.get_window_stats(self._item, NAMESPACE, key)
                retry_after = max(1, int(stats.reset_time - time.time()))
                raise TooManyRequests(
                    f"too many failed sign-ins; try again in {retry_after} seconds",
                    retry_after_seconds=retry_after,
                )

    def record_failure(self, *keys: str) -> None:
        for key in keys:
            self._limiter.hit(self._item, NAMESPACE, key)

    def reset(self, key: str) -> None:
        self._limiter.clear(self._item, NAMESPACE, key)
