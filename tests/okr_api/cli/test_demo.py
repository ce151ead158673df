"""``okr-hub demo``: seeding that survives reruns, fail-fast port checks, and a live smoke test."""

from __future__ import annotations

import os
import random
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from okr_api.cli.demo import PASSWORD_FILE, seed
from okr_api.cli.processes import Supervisor, log_tail
from okr_core import tenants
from okr_core.db.engine import make_engine
from okr_core.demo_data import DEMO_ADMIN_EMAIL, DEMO_SLUG
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from okr_core.users import authenticate
from tests.okr_api.cli.conftest import Invoke

STARTUP_TIMEOUT = 120.0
SHUTDOWN_TIMEOUT = 60.0


def _free_port(*, avoid: tuple[int, ...] = ()) -> int:
    """An unused port below the usual ephemeral range, so no outgoing connection can take it."""
    for _ in range(200):
        port = random.randrange(20_000, 32_000)
        if port in avoid:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


def _refuses_connections(port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(1.0)
        return client.connect_ex(("127.0.0.1", port)) != 0


def _signs_in(settings: Settings, password: str) -> bool:
    with Session(make_engine(settings, as_owner=True)) as session:
        tenant = tenants.get_tenant_by_slug(session, DEMO_SLUG)
        with tenant_context(session, tenant.id):
            return authenticate(session, email=DEMO_ADMIN_EMAIL, password=password) is not None


def test_seeding_remembers_the_admin_password_for_reruns(
    migrated: Invoke, cli_settings: Settings
) -> None:
    data_dir = cli_settings.data_dir

    first = seed(cli_settings, data_dir)
    again = seed(cli_settings, data_dir)

    password_file = data_dir / PASSWORD_FILE
    assert first.password is not None
    assert again.password == first.password
    assert password_file.read_text().strip() == first.password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert _signs_in(cli_settings, first.password)


def test_rerun_without_the_password_file_does_not_invent_one(
    migrated: Invoke, cli_settings: Settings
) -> None:
    seed(cli_settings, cli_settings.data_dir)
    (cli_settings.data_dir / PASSWORD_FILE).unlink()

    again = seed(cli_settings, cli_settings.data_dir)

    assert again.password is None
    assert not (cli_settings.data_dir / PASSWORD_FILE).exists()


@pytest.mark.parametrize("busy_option", ["--api-port", "--dagster-port"])
def test_demo_on_a_taken_port_fails_fast_naming_the_option(
    okr_hub: Invoke, cli_settings: Settings, busy_option: str
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = {"--api-port": _free_port(avoid=(taken,)), "--dagster-port": _free_port()}
        ports[busy_option] = taken

        result = okr_hub("demo", *(str(x) for pair in ports.items() for x in pair))

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: port {taken} on 127.0.0.1 is already in use; choose another with "
        f"{busy_option} PORT"
    )
    assert not (cli_settings.data_dir / "okr.sqlite3").exists()  # failed before migrating


def test_the_same_port_twice_is_refused(okr_hub: Invoke) -> None:
    result = okr_hub("demo", "--api-port", "23456", "--dagster-port", "23456")

    assert result.exit_code == 1
    assert "pick two ports" in result.stderr


def test_supervisor_stops_a_whole_process_group(tmp_path: Path) -> None:
    supervisor = Supervisor(env=dict(os.environ), cwd=tmp_path, log_dir=tmp_path / "logs")
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        "print('started', flush=True); time.sleep(300)"
    )
    child = supervisor.start("sleeper", [sys.executable, "-c", script], log_name="sleeper.log")
    deadline = time.monotonic() + 30
    while "started" not in log_tail(child.log_path) and time.monotonic() < deadline:
        time.sleep(0.1)

    supervisor.stop(timeout=5)

    assert child.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pgid, 0)  # the grandchild is gone too
    assert log_tail(child.log_path) == "started"  # only this run's lines, after the marker


@pytest.fixture
def demo_ports() -> tuple[int, int]:
    api = _free_port()
    return api, _free_port(avoid=(api,))


@pytest.fixture
def demo_process(
    tmp_path: Path, demo_ports: tuple[int, int]
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """``okr-hub demo`` as an operator would start it, stdout and stderr captured to files."""
    api_port, dagster_port = demo_ports
    data_dir = tmp_path / "data"
    stdout_path, stderr_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "DAGSTER_"))}
    env.update({"OKR_DATA_DIR": str(data_dir), "OKR_DATABASE_URL": "", "COLUMNS": "200"})
    okr_hub = Path(sys.executable).parent / "okr-hub"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                str(okr_hub),
                "demo",
                "--api-port",
                str(api_port),
                "--dagster-port",
                str(dagster_port),
            ],
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
    try:
        yield process, stdout_path, data_dir
    finally:
        if process.poll() is None:  # the test failed half-way: still clean up every child
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _processes_with_env(marker: str) -> list[int]:
    """Pids whose environment carries ``marker``: the demo's children and grandchildren."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _diagnostics(stdout_path: Path, data_dir: Path) -> str:
    parts = [f"stdout:\n{stdout_path.read_text(errors='replace')}"]
    stderr_path = stdout_path.with_name("stderr.txt")
    parts.append(f"stderr:\n{stderr_path.read_text(errors='replace')}")
    for log in sorted((data_dir / "logs").glob("*.log")):
        parts.append(f"{log.name}:\n{log_tail(log, lines=30)}")
    return "\n".join(parts)


@pytest.mark.slow
def test_demo_serves_both_uis_and_stops_cleanly_on_ctrl_c(
    demo_process: tuple[subprocess.Popen[bytes], Path, Path], demo_ports: tuple[int, int]
) -> None:
    process, stdout_path, data_dir = demo_process
    api_port, dagster_port = demo_ports
    api_url, dagster_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dagster_port}"

    deadline = time.monotonic() + STARTUP_TIMEOUT
    ready: set[str] = set()
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline and process.poll() is None:
            for name, url in (("api", f"{api_url}/readyz"), ("dagster", f"{dagster_url}/")):
                try:
                    if client.get(url).status_code == 200:
                        ready.add(name)
                except httpx.HTTPError:
                    pass
            if ready == {"api", "dagster"} and "demo is running" in stdout_path.read_text():
                break
            time.sleep(0.5)
    assert ready == {"api", "dagster"}, _diagnostics(stdout_path, data_dir)
    assert "demo is running" in stdout_path.read_text(), _diagnostics(stdout_path, data_dir)

    output = stdout_path.read_text()
    password = (data_dir / PASSWORD_FILE).read_text().strip()
    for text in (f"{api_url}/sign-in", dagster_url, DEMO_SLUG, DEMO_ADMIN_EMAIL, password):
        assert text in output, output
    assert str(data_dir) in output
    assert stat.S_IMODE((data_dir / PASSWORD_FILE).stat().st_mode) == 0o600
    assert _signs_in(Settings(data_dir=data_dir, database_url=""), password)
    assert _processes_with_env(f"OKR_DATA_DIR={data_dir}")  # the children are found this way

    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=SHUTDOWN_TIMEOUT) == 0, _diagnostics(stdout_path, data_dir)
    assert _refuses_connections(api_port)
    assert _refuses_connections(dagster_port)
    assert _processes_with_env(f"OKR_DATA_DIR={data_dir}") == []
    assert "Demo stopped." in stdout_path.read_text()
