"""``okr-hub demo``: the whole product on embedded defaults with one command.

Migrates the SQLite database under the data directory, seeds tenant ``demo``, prepares
``DAGSTER_HOME`` and supervises three children (API, Dagster webserver, Dagster daemon) until
Ctrl-C. Dagster runs as subprocesses only: ``okr_api`` never imports Dagster or
``okr_pipelines``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from okr_api.cli import demo_sources
from okr_api.cli.console import CliError, err, out, print_error
from okr_api.cli.db import display_url, migrate
from okr_api.cli.processes import Child, Supervisor, ensure_port_free, log_tail
from okr_api.cli.session import owner_session
from okr_core.dagster_home import prepare_dagster_home
from okr_core.demo_data import DEMO_SLUG, seed_demo
from okr_core.passwords import generate_password
from okr_core.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE_FILE = REPO_ROOT / "workspace.yaml"
DAGSTER_TEMPLATE = REPO_ROOT / "deploy" / "dagster.yaml"
PASSWORD_FILE = "demo-admin-password.txt"  # noqa: S105 (a file name, not a password)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class SignIn:
    """What the panel tells the person trying the demo; ``password`` None means unknown."""

    email: str
    password: str | None
    password_file: Path


def demo(
    api_port: Annotated[
        int | None, typer.Option("--api-port", help="API port [default: OKR_API_PORT, 8000].")
    ] = None,
    dagster_port: Annotated[
        int | None,
        typer.Option("--dagster-port", help="Dagster UI port [default: OKR_DAGSTER_PORT, 3000]."),
    ] = None,
    startup_timeout: Annotated[
        float, typer.Option("--startup-timeout", help="Seconds to wait for both services.")
    ] = 120.0,
    sandboxes: Annotated[
        bool,
        typer.Option(
            "--sandboxes/--no-sandboxes",
            help="Start the Jira and GitHub sandboxes and connect the demo tenant to them.",
        ),
    ] = True,
) -> None:
    """Run the demo (API + Dagster) on this machine until Ctrl-C."""
    settings = load_settings()
    api_port = api_port or settings.api_port
    dagster_port = dagster_port or settings.dagster_port
    if api_port == dagster_port:
        raise CliError(f"--api-port and --dagster-port are both {api_port}; pick two ports")
    ensure_port_free(settings.api_host, api_port, option="--api-port")
    ensure_port_free(settings.dagster_host, dagster_port, option="--dagster-port")
    executables = _dagster_executables()
    sandbox_ports = demo_sources.pick_ports(settings.api_host) if sandboxes else None

    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings)
    sign_in = seed(settings, data_dir)
    _prepare_dagster_home(settings.dagster_home)

    env = child_environment(settings, data_dir, api_port=api_port, dagster_port=dagster_port)
    supervisor = Supervisor(env=env, cwd=REPO_ROOT, log_dir=data_dir / "logs")
    api_url = f"http://{settings.api_host}:{api_port}"
    dagster_url = f"http://{settings.dagster_host}:{dagster_port}"
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in STOP_SIGNALS}
    try:
        _start_children(supervisor, settings, api_port, dagster_port, executables)
        probes = {"API": f"{api_url}/readyz", "Dagster webserver": f"{dagster_url}/server_info"}
        if sandbox_ports is not None:
            supervisor.start("Sandboxes", sandbox_ports.argv(), log_name="sandboxes.log")
            probes.update(sandbox_ports.probes())
        failure = wait_until_ready(supervisor, probes, stop=stop, timeout=startup_timeout)
        sources = None
        if failure is None and not stop.is_set() and sandbox_ports is not None:
            with out.status("Connecting the demo tenant to the sandboxes…"):
                sources = demo_sources.connect_demo_sources(
                    settings, ports=sandbox_ports, api_url=api_url
                )
        if failure is None and not stop.is_set():
            out.print(_panel(settings, data_dir, api_url, dagster_url, sign_in, sources))
            failure = _supervise(supervisor, stop)
        if failure is None:
            out.print("Stopping the demo…")
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure is not None:
        message, child = failure
        print_error(message)
        if child is not None:
            err.print(Text(log_tail(child.log_path), style="dim"), soft_wrap=True)
        raise typer.Exit(code=1)
    out.print("Demo stopped.")


def seed(settings: Settings, data_dir: Path) -> SignIn:
    """Seed tenant ``demo`` once; the admin password is remembered in a 0600 file for reruns."""
    password_file = data_dir / PASSWORD_FILE
    remembered = _read_secret(password_file)
    with out.status("Seeding the demo tenant…"), owner_session(settings) as session:
        result = seed_demo(session, admin_password=remembered or generate_password())
    if not result.created:
        out.print(f"  [green]✓[/] Demo tenant '{DEMO_SLUG}' already exists; nothing to seed.")
        return SignIn(result.admin_email, remembered, password_file)
    if remembered is None and result.admin_password is not None:
        _write_secret(password_file, result.admin_password)
    out.print(f"  [green]✓[/] Seeded demo tenant '{DEMO_SLUG}' with a quarter of OKRs.")
    return SignIn(result.admin_email, result.admin_password, password_file)


def child_environment(
    settings: Settings, data_dir: Path, *, api_port: int, dagster_port: int
) -> dict[str, str]:
    """The services' settings for every child, with paths made absolute (children's cwd differs)."""
    env = dict(os.environ)
    env.update(
        {
            "DAGSTER_HOME": str(settings.dagster_home),
            "OKR_DATA_DIR": str(data_dir),
            "OKR_API_HOST": settings.api_host,
            "OKR_API_PORT": str(api_port),
            "OKR_DAGSTER_HOST": settings.dagster_host,
            "OKR_DAGSTER_PORT": str(dagster_port),
            "PYTHONUNBUFFERED": "1",  # logs reach the files as they happen
        }
    )
    return env


def wait_until_ready(
    supervisor: Supervisor,
    probes: dict[str, str],
    *,
    stop: threading.Event,
    timeout: float,
) -> tuple[str, Child | None] | None:
    """Poll each probe URL until it answers 200; a failure is (message, child to blame)."""
    pending = dict(probes)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client, out.status("Starting…") as status:
        while pending and not stop.is_set():
            status.update(f"Waiting for {', '.join(pending)} to answer…")
            dead = supervisor.exited()
            if dead is not None:
                return _died(dead), dead
            for name, url in list(pending.items()):
                if _answers(client, url):
                    out.print(f"  [green]✓[/] {name} is up at {escape(url.rsplit('/', 1)[0])}")
                    del pending[name]
            if pending and time.monotonic() > deadline:
                name = next(iter(pending))
                child = next((c for c in supervisor.children if c.name == name), None)
                return f"{name} did not answer {pending[name]} within {timeout:.0f} s", child
            stop.wait(0.5)
    return None


def _supervise(supervisor: Supervisor, stop: threading.Event) -> tuple[str, Child | None] | None:
    """Block until a stop signal (None) or until a child dies (its failure)."""
    while not stop.wait(0.5):
        dead = supervisor.exited()
        if dead is not None:
            return _died(dead), dead
    return None


def _start_children(
    supervisor: Supervisor,
    settings: Settings,
    api_port: int,
    dagster_port: int,
    executables: tuple[Path, Path],
) -> None:
    webserver, daemon = executables
    workspace = str(WORKSPACE_FILE)
    api = [sys.executable, "-m", "okr_api.cli", "serve"]
    api += ["--host", settings.api_host, "--port", str(api_port)]
    ui = [str(webserver), "-h", settings.dagster_host, "-p", str(dagster_port), "-w", workspace]
    supervisor.start("API", api, log_name="api.log")
    supervisor.start("Dagster webserver", ui, log_name="dagster-webserver.log")
    daemon_argv = [str(daemon), "run", "-w", workspace]
    supervisor.start("Dagster daemon", daemon_argv, log_name="dagster-daemon.log")


def _dagster_executables() -> tuple[Path, Path]:
    """The webserver and daemon installed next to this interpreter (the same environment)."""
    bin_dir = Path(sys.executable).parent
    found = (bin_dir / "dagster-webserver", bin_dir / "dagster-daemon")
    for path in found:
        if not os.access(path, os.X_OK):
            raise CliError(f"{path.name} is missing beside {sys.executable}; run `make setup`")
    if not WORKSPACE_FILE.is_file():
        raise CliError(f"the Dagster workspace {WORKSPACE_FILE} is missing")
    return found


def _prepare_dagster_home(dagster_home: Path) -> None:
    """Lay out DAGSTER_HOME; without the template Dagster still runs on its built-in defaults."""
    if not DAGSTER_TEMPLATE.is_file():
        err.print(
            f"[yellow]warning:[/] {escape(str(DAGSTER_TEMPLATE))} is missing; "
            "Dagster uses its default instance settings.",
            soft_wrap=True,
        )
        dagster_home.mkdir(parents=True, exist_ok=True)
        return
    prepare_dagster_home(dagster_home, DAGSTER_TEMPLATE)


def _panel(
    settings: Settings,
    data_dir: Path,
    api_url: str,
    dagster_url: str,
    sign_in: SignIn,
    sources: demo_sources.DemoSources | None = None,
) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, str]] = [
        ("OKR Hub", f"{api_url}/sign-in"),
        ("Dagster", dagster_url),
        ("", ""),
        ("Organisation", DEMO_SLUG),
        ("Email", sign_in.email),
        (
            "Password",
            sign_in.password
            or f"unknown ({sign_in.password_file.name} is missing); "
            f"add an admin with `okr-hub users create-admin --tenant {DEMO_SLUG} --email …`",
        ),
        ("", f"(kept in {sign_in.password_file})" if sign_in.password else ""),
        ("", ""),
        *(
            [
                ("Jira sandbox", sources.jira_url),
                ("GitHub sandbox", sources.github_url),
                ("Live KRs", f"{len(sources.bound)} bound in '{sources.objective}'"),
                ("", ""),
            ]
            if sources is not None
            else []
        ),
        ("Data", str(data_dir)),
        ("Database", display_url(settings)),
        ("Dagster home", str(settings.dagster_home)),
        ("Logs", str(data_dir / "logs")),
    ]
    for label, value in rows:
        grid.add_row(label, Text(value))
    return Panel(
        grid,
        title="[bold green]OKR Enterprise Hub demo is running[/]",
        subtitle="Ctrl-C stops everything",
        expand=False,
    )


def _died(child: Child) -> str:
    code = child.process.returncode
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    return f"{child.name} stopped unexpectedly ({how}); last lines of {child.log_path}:"


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    """A handler that only records the request: stopping happens in the main loop."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handler


def _read_secret(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def _write_secret(path: Path, secret: str) -> None:
    """Write owner-only (0600) from the first byte, then move into place atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.chmod(tmp, 0o600)  # a leftover tmp file would otherwise keep its older, wider mode
    os.replace(tmp, path)
