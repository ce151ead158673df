"""``okr-hub serve --workers 2`` in a real process tree: metrics are counted in a fresh
multiprocess directory, so ``GET /metrics`` reports the same totals whichever worker answers
the scrape, and the directory is removed when the server stops."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

TOKEN = "serve-test-metrics-token-0123456789"
ROUTE = "/api/v1/public/objectives"
WORKERS = 2


def _free_port() -> int:
    """A free port below the ephemeral range (no TIME_WAIT leftovers of client sockets)."""
    for _ in range(100):
        port = random.randint(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def _dead_redis() -> str:
    with socket.socket() as probe:  # bound but never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _multiprocess_dir(pid: int) -> Path | None:
    for child in _children(pid):
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return Path(entry.split(b"=", 1)[1].decode())
    return None


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OKR_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env |= {
        "OKR_ENVIRONMENT": "test",
        "OKR_DATA_DIR": str(tmp_path),
        "OKR_DATABASE_URL": "",
        "OKR_METRICS_TOKEN": TOKEN,
        "OKR_REDIS_URL": _dead_redis(),
        "OKR_PUBLIC_RATE_LIMIT_ANONYMOUS": "1000/minute",
    }
    cli = [sys.executable, "-m", "okr_api.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = _free_port()
    process = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(WORKERS), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("serve did not answer /healthz")
        time.sleep(0.2)
    try:
        yield Server(url=url, process=process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    # A new connection each time: any worker may answer.
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_metrics_add_up_every_workers_counts(server: Server) -> None:
    directory = _multiprocess_dir(server.process.pid)
    assert directory is not None, "the workers did not get PROMETHEUS_MULTIPROC_DIR"
    assert directory.is_dir()

    requests = 40
    statuses = [httpx.get(f"{server.url}{ROUTE}").status_code for _ in range(requests)]
    assert statuses == [401] * requests  # anonymous, and answered although Redis is dead

    # Each worker keeps its counters in its own file in the shared directory.
    assert len(list(directory.glob("counter_*.db"))) == WORKERS
    key = (("route", ROUTE), ("status", "401"))
    for _ in range(6):
        samples = _scrape(server.url)
        assert samples[("okr_public_api_requests_total", key)] == requests
        assert samples[("okr_public_api_rate_limit_fail_open_total", ())] == requests
    assert httpx.get(f"{server.url}/metrics").status_code == 401

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert not directory.exists(), "serve left its metrics directory behind"
