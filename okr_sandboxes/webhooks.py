"""Webhook registrations and signed deliveries, shared by both vendors.

A site keeps its registrations (target URL, secret, event filter). When its data changes the
vendor module builds the vendor's payload and headers and calls :meth:`WebhookDispatcher.dispatch`;
delivery runs in the server's event loop with ``httpx`` and is recorded, so tests can read
``GET {base_url}/_sandbox/webhooks/deliveries``, wait with ``POST .../webhooks/flush`` and replay
one delivery byte for byte with ``POST .../webhooks/deliveries/{id}/redeliver``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

HeaderBuilder = Callable[["WebhookRegistration", str, str, bytes, int], dict[str, str]]


def signature(secret: str | bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``, as GitHub and Jira Cloud sign deliveries."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Constant-time check of a ``sha256=...`` header against the raw body."""
    if not header:
        return False
    return hmac.compare_digest(signature(secret, body), header)


@dataclass
class WebhookRegistration:
    id: int
    url: str
    secret: str
    events: tuple[str, ...] = ()
    filter: str | None = None

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events

    def to_json(self) -> dict[str, Any]:
        # The secret is write-only, like in the vendors' admin screens.
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "filter": self.filter,
            "has_secret": bool(self.secret),
        }


@dataclass
class Delivery:
    id: str
    hook_id: int
    event: str
    url: str
    body: bytes
    headers: dict[str, str]
    state: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, *, with_body: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "hook_id": self.hook_id,
            "event": self.event,
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "headers": self.headers,
        }
        if with_body:
            data["body"] = self.body.decode()
        return data


class WebhookDispatcher:
    """Registrations and deliveries of one site; deliveries run in the server's event loop."""

    def __init__(
        self,
        *,
        build_headers: HeaderBuilder,
        max_attempts: int,
        backoff: float,
        client: Callable[[], httpx.AsyncClient],
        keep: int = 1000,
    ) -> None:
        self._build_headers = build_headers
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._client = client
        self.registrations: dict[int, WebhookRegistration] = {}
        self.deliveries: deque[Delivery] = deque(maxlen=keep)
        self._by_id: dict[str, Delivery] = {}
        self._next_hook = 1
        self._tasks: set[asyncio.Task[None]] = set()

    def register(
        self,
        url: str,
        secret: str,
        *,
        events: tuple[str, ...] = (),
        filter: str | None = None,
    ) -> WebhookRegistration:
        if not url.startswith(("http://", "https://")):
            raise ValueError("webhook url must be an http(s) URL")
        registration = WebhookRegistration(self._next_hook, url, secret, events, filter)
        self.registrations[registration.id] = registration
        self._next_hook += 1
        return registration

    def unregister(self, hook_id: int) -> bool:
        return self.registrations.pop(hook_id, None) is not None

    def dispatch(
        self,
        event: str,
        payload: Mapping[str, Any] | Callable[[WebhookRegistration], Mapping[str, Any]],
        *,
        delivery_id: Callable[[], str],
        matches: Callable[[WebhookRegistration], bool] = lambda _: True,
    ) -> list[str]:
        """Queue one delivery per matching registration; returns the delivery ids."""
        ids: list[str] = []
        for registration in list(self.registrations.values()):
            if not registration.wants(event) or not matches(registration):
                continue
            data = payload(registration) if callable(payload) else payload
            body = json.dumps(data, separators=(",", ":")).encode()
            delivery = Delivery(
                id=delivery_id(),
                hook_id=registration.id,
                event=event,
                url=registration.url,
                body=body,
                headers={},
            )
            self._remember(delivery)
            self._start(delivery, registration)
            ids.append(delivery.id)
        return ids

    def redeliver(self, delivery_id: str) -> Delivery | None:
        """Send a recorded delivery again with the same id and body (a vendor 'redeliver')."""
        original = self._by_id.get(delivery_id)
        if original is None:
            return None
        registration = self.registrations.get(original.hook_id)
        if registration is None:
            return None
        original.state = "pending"
        self._start(original, registration)
        return original

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued deliveries finished (delivered or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    def _remember(self, delivery: Delivery) -> None:
        if len(self.deliveries) == self.deliveries.maxlen:
            self._by_id.pop(self.deliveries[0].id, None)
        self.deliveries.append(delivery)
        self._by_id[delivery.id] = delivery

    def _start(self, delivery: Delivery, registration: WebhookRegistration) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, registration))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery, registration: WebhookRegistration) -> None:
        for attempt in range(self.max_attempts):
            headers = self._build_headers(
                registration, delivery.id, delivery.event, delivery.body, attempt
            )
            delivery.headers = headers
            record: dict[str, Any] = {"at": time.time(), "retry": attempt}
            try:
                response = await self._client().post(
                    registration.url, content=delivery.body, headers=headers
                )
            except httpx.HTTPError as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                delivery.attempts.append(record)
            else:
                record["status"] = response.status_code
                delivery.attempts.append(record)
                if response.is_success:
                    delivery.state = "delivered"
                    return
                if response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the receiver refused it; vendors do not retry those
            if attempt + 1 < self.max_attempts:
                await asyncio.sleep(self.backoff * 2**attempt)
        delivery.state = "failed"
