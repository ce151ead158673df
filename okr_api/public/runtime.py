"""Per-process state of the public API: verified-key cache, data-version cache, rate limiter and
usage telemetry, created once per app (in the router's lifespan, or lazily on first use).

Everything on a request's hot path is in memory: a verified key is trusted for
``OKR_API_KEY_CACHE_SECONDS`` (at most 4 s, so a revoked key stops working on every process
within 5 s), a tenant's data version for ``OKR_PUBLIC_DATA_VERSION_SECONDS``, and usage is
aggregated in memory and written by a background task every ``OKR_PUBLIC_USAGE_FLUSH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from okr_api.database import get_session
from okr_api.metrics.collectors import USAGE_FLUSH_FAILURES
from okr_api.public.ratelimit import RateLimiter
from okr_core import api_keys, api_usage
from okr_core.api_keys import ApiKeyCodec, KeyRecord
from okr_core.api_usage import UsageDelta
from okr_core.data_version import tenant_data_version
from okr_core.errors import OkrError
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context, unbind_tenant

logger = logging.getLogger(__name__)
T = TypeVar("T")
STATE_ATTRIBUTE = "public_api"
KEY_CACHE_SIZE = 10_000


def _derive(settings: Settings, purpose: bytes) -> bytes:
    return hmac.new(settings.secret_key.get_secret_value().encode(), purpose, "sha256").digest()


def _derive_previous(settings: Settings, purpose: bytes) -> tuple[bytes, ...]:
    return tuple(
        hmac.new(secret.encode(), purpose, "sha256").digest()
        for secret in settings.previous_secret_keys
    )


@contextmanager
def session_scope(app: FastAPI) -> Iterator[Session]:
    """A unit of work outside FastAPI's dependency machinery (no threadpool hop of its own).

    Honours a test's override of :func:`okr_api.database.get_session`, so API tests see the
    same rolled-back session as every other route.
    """
    override = app.dependency_overrides.get(get_session)
    if override is not None:
        generator = override()
        session: Session = next(generator)
        try:
            yield session
        except OkrError:
            # An expected answer (404, 400): nothing to undo, as on the real path's reads.
            unbind_tenant(session)
            next(generator, None)
            raise
        except BaseException as exc:
            unbind_tenant(session)
            try:
                generator.throw(exc)
            except type(exc):
                pass
            raise
        unbind_tenant(session)
        next(generator, None)
        return
    session = app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class TtlCache:
    """A bounded map whose entries expire; loads of one key are coalesced into one."""

    def __init__(
        self,
        ttl: float,
        *,
        size: int = KEY_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._loading: dict[Any, asyncio.Future[Any]] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(key, None)
        future.set_result(value)
        self._entries[key] = (self.clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def forget(self, key: Any) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True, slots=True)
class Representation:
    body: bytes
    next_url: str | None


class RepresentationCache:
    """Serialised bodies by ETag, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Representation] = OrderedDict()
        self._bytes = 0

    def get(self, etag: str) -> Representation | None:
        entry = self._entries.get(etag)
        if entry is not None:
            self._entries.move_to_end(etag)
        return entry

    def put(self, etag: str, entry: Representation) -> None:
        size = len(entry.body)
        if self.max_bytes <= 0 or size > self.max_bytes // 4 or etag in self._entries:
            return
        self._entries[etag] = entry
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


@dataclass(slots=True)
class _LastUse:
    tenant_id: uuid.UUID
    at: datetime
    address: str | None


class UsageAggregator:
    """Counts requests per (key, day, route template, status) in memory; cheap to record."""

    def __init__(self) -> None:
        self._pending: dict[tuple[uuid.UUID, uuid.UUID, date, str, int], UsageDelta] = {}
        self._last_use: dict[uuid.UUID, _LastUse] = {}

    def record(
        self,
        *,
        tenant_id: uuid.UUID,
        key_id: uuid.UUID,
        route: str,
        status: int,
        latency_ms: float,
        address: str | None,
    ) -> None:
        now = datetime.now(UTC)
        slot = (tenant_id, key_id, now.date(), route, status)
        delta = self._pending.get(slot)
        if delta is None:
            delta = UsageDelta(api_key_id=key_id, day=slot[2], route=route, status=status)
            self._pending[slot] = delta
        delta.add(latency_ms)
        use = self._last_use.get(key_id)
        if use is None:
            self._last_use[key_id] = _LastUse(tenant_id, now, address)
        else:
            use.at, use.address = now, address

    @property
    def pending_requests(self) -> int:
        return sum(d.requests for d in self._pending.values())

    def drain(
        self,
    ) -> tuple[
        dict[tuple[uuid.UUID, uuid.UUID, date, str, int], UsageDelta], dict[uuid.UUID, _LastUse]
    ]:
        pending, last_use = self._pending, self._last_use
        self._pending, self._last_use = {}, {}
        return pending, last_use

    def restore(
        self,
        pending: dict[tuple[uuid.UUID, uuid.UUID, date, str, int], UsageDelta],
        last_use: dict[uuid.UUID, _LastUse],
    ) -> None:
        """Put back what a failed flush could not write, so the next flush tries again."""
        for slot, delta in pending.items():
            current = self._pending.get(slot)
            if current is None:
                self._pending[slot] = delta
                continue
            current.requests += delta.requests
            current.latency_ms_total += delta.latency_ms_total
            current.histogram = [a + b for a, b in zip(current.histogram, delta.histogram)]  # noqa: B905
        for key_id, use in last_use.items():
            self._last_use.setdefault(key_id, use)


def write_usage(
    session: Session,
    pending: dict[tuple[uuid.UUID, uuid.UUID, date, str, int], UsageDelta],
    last_use: dict[uuid.UUID, _LastUse],
) -> int:
    by_tenant: dict[uuid.UUID, list[UsageDelta]] = {}
    for (tenant_id, *_), delta in pending.items():
        by_tenant.setdefault(tenant_id, []).append(delta)
    for use in last_use.values():
        by_tenant.setdefault(use.tenant_id, [])
    written = 0
    for tenant_id, deltas in by_tenant.items():
        with tenant_context(session, tenant_id):
            written += api_usage.add_usage(session, deltas)
            for key_id, use in last_use.items():
                if use.tenant_id == tenant_id:
                    api_keys.record_last_use(session, key_id=key_id, at=use.at, address=use.address)
    return written


class PublicApiRuntime:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.codec = ApiKeyCodec.from_settings(settings)
        self.cursor_key = _derive(settings, b"okr-hub/public-api-cursor/v1")
        self.previous_cursor_keys = _derive_previous(settings, b"okr-hub/public-api-cursor/v1")
        self.etag_key = _derive(settings, b"okr-hub/public-api-etag/v1")
        self.keys = TtlCache(settings.api_key_cache_seconds)
        self.versions = TtlCache(settings.public_data_version_seconds)
        self.limiter = RateLimiter(settings)
        self.usage = UsageAggregator()
        self.pages = RepresentationCache(settings.public_page_cache_mb * 1024 * 1024)
        self._flushers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    # -- database access off the event loop -------------------------------------------------
    def read(self, work: Callable[[Session], T]) -> Awaitable[T]:
        """Run ``work`` with a session in the threadpool (one hop for the whole job)."""

        def run() -> T:
            with session_scope(self.app) as session:
                return work(session)

        return run_in_threadpool(run)

    # -- verified keys --------------------------------------------------------------------
    async def key_for_secret(self, secret: str) -> KeyRecord | None:
        """The key a presented (well-formed) secret belongs to, cached by its current digest.

        Digests under previous secret keys are computed only when the database is read."""
        digest = self.codec.digest(secret)

        async def load() -> KeyRecord | None:
            previous = self.codec.previous_digests(secret)
            return await self.read(
                lambda session: api_keys.find_key(session, digest=digest, previous_digests=previous)
            )

        record: KeyRecord | None = await self.keys.get(digest, load)
        return record

    def forget_key(self, digest: str) -> None:
        self.keys.forget(digest)

    # -- data versions and ETags ----------------------------------------------------------
    async def data_version(self, tenant_id: uuid.UUID) -> str:
        def work(session: Session) -> str:
            with tenant_context(session, tenant_id):
                return tenant_data_version(session)

        async def load() -> str:
            return await self.read(work)

        version: str = await self.versions.get(tenant_id, load)
        return version

    def etag(self, tenant_id: uuid.UUID, version: str, target: str) -> str:
        """A weak validator for one URL's representation under one data version and day
        (health depends on the date). Keyed, so it reveals nothing about the data."""
        today = datetime.now(UTC).date().isoformat()
        message = f"{tenant_id}|{version}|{today}|{target}".encode()
        tag = hmac.new(self.etag_key, message, hashlib.sha256).hexdigest()[:32]
        return f'W/"{tag}"'

    # -- usage telemetry ------------------------------------------------------------------
    async def flush_usage(self) -> int:
        pending, last_use = self.usage.drain()
        if not pending and not last_use:
            return 0
        try:
            return await self.read(lambda session: write_usage(session, pending, last_use))
        except Exception:
            self.usage.restore(pending, last_use)
            USAGE_FLUSH_FAILURES.inc()
            logger.exception("writing API usage failed; it will be retried")
            return 0

    async def _flush_forever(self) -> None:
        interval = self.settings.public_usage_flush_seconds
        while True:
            await asyncio.sleep(interval)
            await self.flush_usage()

    async def start(self) -> None:
        """Start the background flush in the running event loop (one per loop: test clients
        run an app's lifespan once per client, each in its own loop)."""
        loop = asyncio.get_running_loop()
        if loop not in self._flushers:
            self._flushers[loop] = loop.create_task(self._flush_forever(), name="okr-usage-flush")

    async def stop(self) -> None:
        task = self._flushers.pop(asyncio.get_running_loop(), None)
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await self.flush_usage()
        if not self._flushers:
            await self.limiter.close()


def get_runtime(app: FastAPI) -> PublicApiRuntime:
    runtime: PublicApiRuntime | None = getattr(app.state, STATE_ATTRIBUTE, None)
    if runtime is None:
        runtime = PublicApiRuntime(app, app.state.settings)
        setattr(app.state, STATE_ATTRIBUTE, runtime)
    return runtime
