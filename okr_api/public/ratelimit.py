"""Rate limits of the public API with the ``limits`` library: per key, per tenant, and per
client address for requests without a valid key.

Counters live in memory (``FixedWindow``: constant cost per hit, unlike ``MovingWindow`` whose
memory storage slows the whole process under load) or in Redis when ``OKR_REDIS_URL`` is set, so
several API processes share them. If Redis stops answering, requests are counted in memory
instead (fail open) with a logged warning and a metric, and Redis is tried again a few seconds
later; the API never answers 500 because of its limiter.
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
from limits.strategies import FixedWindowRateLimiter

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
    def __init__(self, settings: Settings, *, redis_key_prefix: str = "okr-hub") -> None:
        self.parse = RateLimitParser()
        self.per_key_default = self.parse(settings.public_rate_limit_per_key)
        self.per_tenant_default = self.parse(settings.public_rate_limit_per_tenant)
        self.anonymous = self.parse(settings.public_rate_limit_anonymous)
        self._memory = FixedWindowRateLimiter(MemoryStorage())
        self._redis: Any = None
        self._redis_down_until = 0.0
        self._last_warning = 0.0
        self.fail_open_total = 0
        if settings.redis_url:
            self._redis = _async_redis_limiter(settings.redis_url, key_prefix=redis_key_prefix)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    async def hit(self, policies: Sequence[Policy]) -> LimitResult:
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                return await self._hit_redis(policies)
            except Exception as exc:  # any Redis failure must fail open
                self._fail_open(exc)
        return self._hit_memory(policies)

    def _hit_memory(self, policies: Sequence[Policy]) -> LimitResult:
        limiter = self._memory
        states = []
        for policy in policies:
            allowed = limiter.hit(policy.item, NAMESPACE, policy.name, policy.partition)
            stats = limiter.get_window_stats(policy.item, NAMESPACE, policy.name, policy.partition)
            states.append(_state(policy, allowed, stats.remaining, stats.reset_time))
        return LimitResult(tuple(states))

    async def _hit_redis(self, policies: Sequence[Policy]) -> LimitResult:
        limiter = self._redis

        async def one(policy: Policy) -> PolicyState:
            identifiers = (NAMESPACE, policy.name, policy.partition)
            allowed = await limiter.hit(policy.item, *identifiers)
            stats = await limiter.get_window_stats(policy.item, *identifiers)
            return _state(policy, allowed, stats.remaining, stats.reset_time)

        states = await asyncio.wait_for(
            asyncio.gather(*(one(p) for p in policies)), timeout=REDIS_TIMEOUT_SECONDS * 2
        )
        return LimitResult(tuple(states))

    def _fail_open(self, exc: BaseException) -> None:
        self.fail_open_total += 1
        FAIL_OPEN_COUNTER.inc()
        now = time.monotonic()
        self._redis_down_until = now + REDIS_RETRY_SECONDS
        if now - self._last_warning >= WARNING_INTERVAL_SECONDS or self.fail_open_total == 1:
            self._last_warning = now
            logger.warning(
                "rate-limit storage (Redis) failed (%s); counting in memory for %.0f s "
                "(fail open, %d times so far)",
                type(exc).__name__,
                REDIS_RETRY_SECONDS,
                self.fail_open_total,
            )

    async def close(self) -> None:
        storage = getattr(self._redis, "storage", None)
        closer = getattr(storage, "storage", None)
        if closer is not None and hasattr(closer, "aclose"):
            try:
                await closer.aclose()
            except Exception:  # a dead connection may fail to close
                logger.debug("closing the Redis rate-limit storage failed", exc_info=True)


def _state(policy: Policy, allowed: bool, remaining: int, reset_time: float) -> PolicyState:
    return PolicyState(
        name=policy.name,
        quota=policy.item.amount,
        window_seconds=policy.item.get_expiry(),
        remaining=max(0, int(remaining)),
        reset_at=float(reset_time),
        exceeded=not allowed,
    )


def _async_redis_limiter(url: str, *, key_prefix: str) -> Any:
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindowRateLimiter

    uri = url if url.startswith("async+") else f"async+{url}"
    storage = RedisStorage(
        uri,
        implementation="redispy",
        wrap_exceptions=True,
        key_prefix=key_prefix,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return AsyncFixedWindowRateLimiter(storage)


class _Counter:
    """A process-wide count of fail-open decisions, for metrics and tests."""

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1


FAIL_OPEN_COUNTER = _Counter()
