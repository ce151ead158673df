"""Fixtures for the sandbox tests: sandboxes on free ports and a webhook receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from okr_sandboxes import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from okr_sandboxes.server import ServerThread

ANCHOR = datetime(2026, 3, 31, tzinfo=UTC)


@pytest.fixture
def jira_sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="tenant-a", issues=250, anchor=ANCHOR) as sandbox:
        yield sandbox


@pytest.fixture
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="tenant-a", pulls=450, anchor=ANCHOR) as sandbox:
        yield sandbox


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook target: records every POST; answers ``statuses`` in turn, then 202."""

    url: str = ""
    received: list[Delivery] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    async def hook(request: Request) -> Response:
        state.received.append(
            Delivery(request.url.path, dict(request.headers), await request.body())
        )
        await asyncio.sleep(0)
        return Response(status_code=state.statuses.pop(0) if state.statuses else 202)

    app = Starlette(routes=[Route("/hooks/{name}", hook, methods=["POST"])])
    with ServerThread(app) as server:
        state.url = server.url
        yield state
