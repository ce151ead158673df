"""Rate limits of the public API with the ``limits`` library: per key, per tenant, and per
client address for requests without a valid key.

Counters live in memory (``FixedWindow``: constant cost per hit, unlike ``MovingWindow`` whose
memory storage slows the whole process under load) or in Redis when ``OKR_REDIS_URL`` is set, so
several API processes share them. If Redis stops answering, requests are counted in memory
instead (fail open) with a logged warning and the ``okr_public_api_rate_limit_fail_open_total``
metric (every request counted in memory while Redis is failing or being retried adds one), and
Redis is tried again a few seconds later; the API never answers 500 because of its limiter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage

from okr_api.metrics.collectors import RATE_LIMIT_FAIL_OPEN
from okr_core.settings import Settings

logger = logging.getLogger(__name__)

NAMESPACE = "okr-public-api"
REDIS_RETRY_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5
WARNING_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Policy:
    """One limit applied to one partition (a key, a tenant or a client address)."""

    name: str
    item: RateLimitItem
    partition: str


@dataclass(frozen=True, slots=True)
class PolicyState:
    name: str
    quota: int
    window_seconds: int
    remaining: int
    reset_at: float  # UNIX time when the window ends
    exceeded: bool

    def reset_after(self, now: float) -> int:
        return max(0, math.ceil(self.reset_at - now))


@dataclass(frozen=True, slots=True)
class LimitResult:
    states: tuple[PolicyState, ...]

    @property
    def exceeded(self) -> PolicyState | None:
        return next((s for s in self.states if s.exceeded), None)

    def headers(self, now: float | None = None) -> dict[str, str]:
        """``RateLimit-Policy`` and ``RateLimit`` (IETF draft structured fields) and the common
        ``X-RateLimit-*`` headers of the most restrictive policy (``Reset`` in UNIX seconds)."""
        now = time.time() if now is None else now
        policy = ", ".join(f'"{s.name}";q={s.quota};w={s.window_seconds}' for s in self.states)
        current = ", ".join(
            f'"{s.name}";r={s.remaining};t={s.reset_after(now)}' for s in self.states
        )
        tightest = min(self.states, key=lambda s: (s.remaining, -s.reset_at))
        return {
            "RateLimit-Policy": policy,
            "RateLimit": current,
            "X-RateLimit-Limit": str(tightest.quota),
            "X-RateLimit-Remaining": str(tightest.remaining),
            "X-RateLimit-Reset": str(math.ceil(tightest.reset_at)),
            "X-RateLimit-Resource": tightest.name,
        }


class RateLimitParser:
    """Parses limit strings once; overrides arrive as strings from the key cache."""

    def __init__(self) -> None:
        self._items: dict[str, RateLimitItem] = {}

    def __call__(self, value: str) -> RateLimitItem:
        item = self._items.get(value)
        if item is None:
            item = parse(value)
            self._items[value] = item
        return item


class RateLimiter:
    """Fixed-window counters per policy, on Redis when configured, else (or failing) in memory.

    Each policy costs two storage operations: ``incr`` (the count after this hit, which says
    both whether the hit is allowed and how many remain) and ``get_expiry`` (when the window
    resets), exactly what ``limits``' ``FixedWindowRateLimiter.hit`` plus its
    ``get_window_stats`` compute, minus the latter's extra ``get``. On Redis the policies run
    concurrently: four commands, two sequential round trips per request.
    """

    def __init__(self, settings: Settings, *, redis_key_prefix: str = "okr-hub") -> None:
        self.parse = RateLimitParser()
        self.per_key_default = self.parse(settings.public_rate_limit_per_key)
        self.per_tenant_default = self.parse(settings.public_rate_limit_per_tenant)
        self.anonymous = self.parse(settings.public_rate_limit_anonymous)
        self._memory = MemoryStorage()
        self._redis: Any = None
        self._redis_down_until = 0.0
        self._last_warning: float | None = None
        self.fail_open_total = 0  # requests of this limiter counted in memory instead of Redis
        if settings.redis_url:
            self._redis = _async_redis_storage(settings.redis_url, key_prefix=redis_key_prefix)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    async def hit(self, policies: Sequence[Policy]) -> LimitResult:
        if self._redis is not None:
            if time.monotonic() >= self._redis_down_until:
                try:
                    return await self._hit_redis(policies)
                except Exception as exc:  # any Redis failure must fail open
                    self._redis_failed(exc)
            self.fail_open_total += 1
            RATE_LIMIT_FAIL_OPEN.inc()
        return self._hit_memory(policies)

    def _hit_memory(self, policies: Sequence[Policy]) -> LimitResult:
        storage = self._memory
        states = []
        for policy in policies:
            key = policy.item.key_for(NAMESPACE, policy.name, policy.partition)
            count = storage.incr(key, policy.item.get_expiry())
            states.append(_state(policy, count, storage.get_expiry(key)))
        return LimitResult(tuple(states))

    async def _hit_redis(self, policies: Sequence[Policy]) -> LimitResult:
        storage = self._redis

        async def one(policy: Policy) -> PolicyState:
            key = policy.item.key_for(NAMESPACE, policy.name, policy.partition)
            count = await storage.incr(key, policy.item.get_expiry())
            return _state(policy, count, await storage.get_expiry(key))

        states = await asyncio.wait_for(
            asyncio.gather(*(one(p) for p in policies)), timeout=REDIS_TIMEOUT_SECONDS * 2
        )
        return LimitResult(tuple(states))

    def _redis_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._redis_down_until = now + REDIS_RETRY_SECONDS
        if self._last_warning is None or now - self._last_warning >= WARNING_INTERVAL_SECONDS:
            self._last_warning = now
            logger.warning(
                "rate-limit storage (Redis) failed (%s); counting in memory for %.0f s "
                "(fail open; %d requests of this process so far, metric "
                "okr_public_api_rate_limit_fail_open_total)",
                type(exc).__name__,
                REDIS_RETRY_SECONDS,
                self.fail_open_total + 1,
            )

    async def close(self) -> None:
        # limits has no public close: its redis-py bridge holds the client (guarded lookups).
        closer = getattr(getattr(self._redis, "bridge", None), "storage", None)
        if closer is not None and hasattr(closer, "aclose"):
            try:
                await closer.aclose()
            except Exception:  # a dead connection may fail to close
                logger.debug("closing the Redis rate-limit storage failed", exc_info=True)


def _state(policy: Policy, count: int, reset_time: float) -> PolicyState:
    """A policy's state after a hit that brought its window's count to ``count``."""
    return PolicyState(
        name=policy.name,
        quota=policy.item.amount,
        window_seconds=policy.item.get_expiry(),
        remaining=max(0, policy.item.amount - int(count)),
        reset_at=float(reset_time),
        exceeded=count > policy.item.amount,
    )


def _async_redis_storage(url: str, *, key_prefix: str) -> Any:
    from limits.aio.storage import RedisStorage

    uri = url if url.startswith("async+") else f"async+{url}"
    return RedisStorage(
        uri,
        implementation="redispy",
        wrap_exceptions=True,
        key_prefix=key_prefix,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
