"""``okr-hub sandbox``: serve the Jira Cloud and GitHub sandboxes on this machine until Ctrl-C.

A thin wrapper around ``python -m okr_sandboxes`` run as a child process (``okr_api`` never
imports the sandboxes): every option after the command's own is passed through unchanged, so
``okr-hub sandbox --tenant acme --activity 10`` or ``okr-hub sandbox -- --help`` work as they do
for the runner. Once both servers listen, the URLs and sandbox credentials are printed as a table
(or, with ``--json``, as the runner's one JSON line, for scripts).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from types import FrameType
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from okr_api.cli.console import CliError, out

RUNNER = [sys.executable, "-m", "okr_sandboxes"]
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The command's context settings: unknown options and extra arguments go to the runner.
PASS_THROUGH: dict[str, Any] = {"allow_extra_args": True, "ignore_unknown_options": True}


def sandbox(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the runner's JSON line instead of a table.")
    ] = False,
) -> None:
    """Serve the Jira and GitHub sandboxes until Ctrl-C (other options go to the runner)."""
    argv = [*RUNNER, *ctx.args]
    try:
        process = subprocess.Popen(  # noqa: S603 (our interpreter and module, no shell)
            argv, stdout=subprocess.PIPE, text=True, bufsize=1
        )
    except OSError as exc:
        raise CliError(f"cannot start the sandbox runner: {exc.strerror}") from None
    previous = {sig: signal.signal(sig, _forward_to(process)) for sig in FORWARDED_SIGNALS}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            info = _info(line)
            if info is None or json_output:
                sys.stdout.write(line)  # verbatim: scripts parse the JSON line
                sys.stdout.flush()
            else:
                out.print(sandbox_panel(info))
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if process.poll() is None:
            process.terminate()
            process.wait()
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        raise typer.Exit(code=code if code > 0 else 1)


def sandbox_panel(info: dict[str, Any]) -> Panel:
    """The runner's JSON as a table a person can copy URLs and credentials from."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    jira = info.get("jira") or {}
    for site in jira.get("sites", []):
        grid.add_row(f"Jira · {site.get('site')}", Text(str(site.get("base_url"))))
        grid.add_row("  email", Text(str(site.get("email"))))
        grid.add_row("  API token", Text(str(site.get("api_token"))))
        grid.add_row("  OAuth token", Text(str(site.get("access_token"))))
    github = info.get("github") or {}
    for site in github.get("sites", []):
        grid.add_row(f"GitHub · {site.get('site')}", Text(str(site.get("base_url"))))
        grid.add_row("  token", Text(str(site.get("token"))))
        grid.add_row("  App installation", Text(str(site.get("installation_token"))))
        repos = ", ".join(f"{site.get('owner')}/{name}" for name in site.get("repos") or [])
        grid.add_row("  repositories", Text(repos))
    if info.get("ca_bundle"):
        grid.add_row("Test CA", Text(str(info["ca_bundle"])))
    return Panel(
        grid,
        title="[bold green]Sandboxes are running[/]",
        subtitle="Ctrl-C stops them · sandbox credentials, not real ones",
        expand=False,
    )


def _info(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and ("jira" in value or "github" in value) else None


def _forward_to(process: subprocess.Popen[str]) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    return handler
