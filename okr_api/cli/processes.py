"""A small supervisor for the demo's child processes, and port checks that fail fast.

Each child runs in its own session (so its own process group): Ctrl-C in the terminal reaches
only ``okr-hub``, which then stops every child *and* the grandchildren Dagster spawns (code
servers, run workers) by signalling whole groups, first politely, then with SIGKILL.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from okr_api.cli.console import CliError

# Logs are appended across demo runs; this line starts each run's section.
RUN_MARKER = "--- okr-hub "


def ensure_port_free(host: str, port: int, *, option: str) -> None:
    """Refuse to start when ``host:port`` is taken, naming the option that changes it.

    Binds with SO_REUSEADDR like uvicorn does, so a socket lingering in TIME_WAIT after the
    previous run does not count as taken while a live listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} on {host} is already in use; choose another with {option} PORT"
                ) from None
            raise CliError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another with {option}"
            ) from None


@dataclass
class Child:
    """One supervised process; ``name`` is how messages refer to it."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the child leads its own process group


class Supervisor:
    """Starts children with one environment and log directory, and stops all of them together."""

    def __init__(self, *, env: Mapping[str, str], cwd: Path, log_dir: Path) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], *, log_name: str) -> Child:
        """Start ``argv`` with stdout and stderr appended to ``<log_dir>/<log_name>``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / log_name
        with log_path.open("ab") as log:
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n{RUN_MARKER}{started} starting {name}\n".encode())
            log.flush()
            process = subprocess.Popen(  # noqa: S603 (argv is built by us, no shell)
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        child = Child(name=name, process=process, log_path=log_path)
        self.children.append(child)
        return child

    def exited(self) -> Child | None:
        """The first child that has exited, if any: the demo is broken without any one of them."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM every group, wait up to ``timeout`` in total, then SIGKILL what is left."""
        for child in self.children:
            _signal_group(child.pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        # Grandchildren outlive their parent for a moment while they shut down; give them the
        # rest of the budget, then kill them too.
        while time.monotonic() < deadline and any(_group_alive(c.pgid) for c in self.children):
            time.sleep(0.1)
        for child in self.children:
            _signal_group(child.pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
                child.process.wait(timeout=5)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def log_tail(path: Path, *, lines: int = 20) -> str:
    """The last ``lines`` lines this run wrote to a child's log: the reason it died."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    tail = text.splitlines()
    starts = [i for i, line in enumerate(tail) if line.startswith(RUN_MARKER)]
    if starts:
        tail = tail[starts[-1] + 1 :]  # only this run's lines, not a previous run's
    return "\n".join(tail[-lines:])
