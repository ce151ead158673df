"""Keep-alive connections end after a number of requests, so every worker gets its share.

uvicorn's workers share one listening socket and whichever is awake accepts the next
connection; an identity provider or integration that opens a handful of keep-alive connections
at once can land most of them on one worker and hold them for hours, leaving the other cores
idle (measured: 6 of 8 connections on one of two workers, half the machine unused). Like
nginx's ``keepalive_requests``, the response to every ``max_requests``-th request on a
connection carries ``Connection: close``; the client reconnects (HTTP clients do this on their
own) and the worker least busy at that moment accepts it, so load spreads as it arrives.
"""

from __future__ import annotations

from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Connections this process remembers counts for; one evicted early just starts counting again.
TRACKED_CONNECTIONS = 4096


class KeepAliveRecycling:
    """ASGI middleware: ``Connection: close`` on each connection's ``max_requests``-th response.

    A connection is known by its peer address and port (``scope["client"]``), unique among
    the connections open to this process; counts are bounded, so connections the client
    closed first cost nothing lasting."""

    def __init__(self, app: ASGIApp, max_requests: int) -> None:
        self.app = app
        self.max_requests = max_requests
        self._served: OrderedDict[tuple[str, int], int] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        if client is None or self.max_requests <= 0:
            await self.app(scope, receive, send)
            return
        key = (client[0], client[1])
        served = self._served.pop(key, 0) + 1
        if served < self.max_requests:
            self._served[key] = served
            if len(self._served) > TRACKED_CONNECTIONS:
                self._served.popitem(last=False)
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"
                ]
                headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_closing)
