"""Keep-alive recycling: every N-th response on a connection says Connection: close, the
server really closes it, and the client's next request arrives on a new connection."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import cast

import pytest
import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from okr_api.app import create_app
from okr_api.keepalive import KeepAliveRecycling
from okr_core.settings import Settings


async def peer(request: Request) -> JSONResponse:
    """Which client port (so which connection) the request came in on."""
    assert request.client is not None
    return JSONResponse({"port": request.client.port}, headers={"Connection": "keep-alive"})


def _serve(app: KeepAliveRecycling) -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def port() -> Iterator[int]:
    app = Starlette(routes=[Route("/peer", peer)])
    yield from _serve(KeepAliveRecycling(app, max_requests=3))


def test_every_third_response_closes_the_connection(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    seen: list[tuple[int, str | None]] = []
    for _ in range(7):
        connection.request("GET", "/peer")
        response = connection.getresponse()
        body = json.loads(response.read())
        seen.append((body["port"], response.getheader("connection")))
    connection.close()

    ports = [p for p, _ in seen]
    closes = [i for i, (_, header) in enumerate(seen) if header == "close"]
    assert closes == [2, 5]  # the 3rd and the 6th; the app's own keep-alive header is replaced
    assert len(set(ports[0:3])) == 1
    assert len(set(ports[3:6])) == 1
    assert ports[0] != ports[3] != ports[6]  # a new connection after each close


def test_connections_are_counted_apart(port: int) -> None:
    first = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    second = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = []
    for connection in (first, second, first, second):
        connection.request("GET", "/peer")
        response = connection.getresponse()
        response.read()
        headers.append(response.getheader("connection"))
    assert headers == ["keep-alive"] * 4
    first.close()
    second.close()


def _recycling(app: FastAPI) -> list[dict[str, object]]:
    return [
        dict(m.kwargs) for m in app.user_middleware if cast(object, m.cls) is KeepAliveRecycling
    ]


def test_the_app_recycles_by_default_and_zero_turns_it_off() -> None:
    assert _recycling(create_app(Settings(environment="test"))) == [{"max_requests": 100}]
    assert _recycling(create_app(Settings(environment="test", keepalive_max_requests=50))) == [
        {"max_requests": 50}
    ]
    assert _recycling(create_app(Settings(environment="test", keepalive_max_requests=0))) == []
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Settings(environment="test", keepalive_max_requests=-1)
