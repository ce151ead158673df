"""``python -m okr_sandboxes``: serve the Jira and GitHub sandboxes until SIGINT or SIGTERM.

Prints one JSON line once both servers listen::

    {"jira": {"server_url": ..., "sites": [{"site", "seed", "base_url", "email", "api_token",
     "access_token", "account_id"}, ...]},
     "github": {"server_url": ..., "sites": [{"site", "seed", "base_url", "token",
     "installation_token", "owner", "repos", "login"}, ...]},
     "ca_bundle": null | "<path of the test CA>", "pid": 1234}

Every ``--tenant NAME[=SEED]`` becomes one site on each server (default: one tenant ``demo``);
tenants share project keys and repository names and differ by seed. More tenants can be added
while it runs with ``POST {server_url}/_sandbox/sites``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from okr_sandboxes.api import site_name
from okr_sandboxes.faults import FaultConfig
from okr_sandboxes.github.app import GitHubSandboxApp, GitHubSiteConfig
from okr_sandboxes.jira.app import JiraSandboxApp, JiraSiteConfig
from okr_sandboxes.server import ServerThread, make_tls_files


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _faults(value: str) -> FaultConfig:
    try:
        return FaultConfig.from_json(json.loads(value))
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"invalid --faults: {exc}") from exc


def _anchor(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid --anchor: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m okr_sandboxes",
        description="Serve Jira Cloud and GitHub sandboxes on this machine.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--jira-port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--github-port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--no-jira", action="store_true", help="do not start the Jira sandbox")
    parser.add_argument("--no-github", action="store_true", help="do not start the GitHub sandbox")
    parser.add_argument(
        "--tenant",
        action="append",
        metavar="NAME[=SEED]",
        help="a sandbox tenant (repeatable); the seed defaults to the name (default: demo)",
    )
    parser.add_argument("--issues", type=int, default=200, help="Jira issues per tenant")
    parser.add_argument("--projects", type=_csv, default=("ENG", "OPS"), help="Jira project keys")
    parser.add_argument("--pulls", type=int, default=60, help="pull requests per tenant")
    parser.add_argument("--owner", default="acme", help="GitHub organisation login")
    parser.add_argument("--repos", type=_csv, default=("api", "web"), help="GitHub repositories")
    parser.add_argument(
        "--anchor",
        type=_anchor,
        default=None,
        help="end of the seeded history, ISO 8601 (default: start of today, UTC)",
    )
    parser.add_argument("--history-days", type=int, default=120, help="length of seeded history")
    parser.add_argument(
        "--activity",
        type=float,
        default=None,
        metavar="SECONDS",
        help="move issues and merge pull requests every SECONDS (default: off)",
    )
    parser.add_argument(
        "--faults",
        type=_faults,
        default=None,
        metavar="JSON",
        help='fault settings for every site, e.g. \'{"rate_limited": 0.1, "server_errors": 0.1}\'',
    )
    parser.add_argument("--github-rate-limit", type=int, default=5000, help="core requests/hour")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a trustme test CA")
    parser.add_argument(
        "--tls-dir", type=Path, default=None, help="keep (and reuse) the test CA in this folder"
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    return parser


def _tenants(values: Sequence[str] | None) -> list[tuple[str, str]]:
    tenants: list[tuple[str, str]] = []
    for value in values or ["demo"]:
        name, _, seed = value.partition("=")
        tenants.append((site_name(name), seed or name))
    names = [name for name, _ in tenants]
    if len(set(names)) != len(names):
        raise SystemExit("tenant names must be distinct")
    return tenants


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tenants = _tenants(args.tenant)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    temp: tempfile.TemporaryDirectory[str] | None = None
    tls = None
    if args.tls:
        directory = args.tls_dir
        if directory is None:
            temp = tempfile.TemporaryDirectory(prefix="okr-sandbox-tls-")
            directory = Path(temp.name)
        tls = make_tls_files(directory)

    servers: list[ServerThread] = []
    info: dict[str, Any] = {"ca_bundle": str(tls.ca_bundle) if tls else None, "pid": os.getpid()}
    try:
        try:
            if not args.no_jira:
                jira = JiraSandboxApp([_jira_config(args, name, seed) for name, seed in tenants])
                server = ServerThread(jira, host=args.host, port=args.jira_port, tls=tls)
                servers.append(server.start())
                jira.set_server_url(server.url)
                info["jira"] = {
                    "server_url": server.url,
                    "sites": [
                        {"site": s.name, "seed": s.seed, "base_url": s.public_base}
                        | s.credentials()
                        for s in jira.sites.values()
                    ],
                }
            if not args.no_github:
                github = GitHubSandboxApp(
                    [_github_config(args, name, seed) for name, seed in tenants]
                )
                server = ServerThread(github, host=args.host, port=args.github_port, tls=tls)
                servers.append(server.start())
                github.set_server_url(server.url)
                info["github"] = {
                    "server_url": server.url,
                    "sites": [
                        {"site": s.name, "seed": s.seed, "base_url": s.public_api} | s.credentials()
                        for s in github.sites.values()
                    ],
                }
        except OSError as exc:  # e.g. the port is taken
            print(f"cannot start the sandboxes: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(info), flush=True)
        while not stop.wait(0.5):
            if not all(s.alive for s in servers):
                print("a sandbox server stopped unexpectedly", file=sys.stderr)
                return 1
        return 0
    finally:
        for server in servers:
            server.stop()
        if temp is not None:
            temp.cleanup()


def _jira_config(args: argparse.Namespace, name: str, seed: str) -> JiraSiteConfig:
    return JiraSiteConfig(
        name=name,
        seed=seed,
        issues=args.issues,
        projects=args.projects,
        anchor=args.anchor,
        history_days=args.history_days,
        activity_tick=args.activity,
        faults=args.faults,
    )


def _github_config(args: argparse.Namespace, name: str, seed: str) -> GitHubSiteConfig:
    return GitHubSiteConfig(
        name=name,
        seed=seed,
        owner=args.owner,
        repos=args.repos,
        pulls=args.pulls,
        anchor=args.anchor,
        history_days=args.history_days,
        rate_limit=args.github_rate_limit,
        activity_tick=args.activity,
        faults=args.faults,
    )


if __name__ == "__main__":
    sys.exit(main())
