"""The Python API for tests, benchmarks and the demo.

``run_jira_sandbox(...)`` / ``run_github_sandbox(...)`` start a sandbox server in a thread of the
calling process and yield a handle for its first site; ``spawn_sandboxes(...)`` starts the
runner (``python -m okr_sandboxes``) as a child process instead, so the server does not share
the caller's interpreter lock (benchmarks). Either way, handles speak to the sandbox over its
admin HTTP endpoints only, so a handle works the same for an in-process server, a child process
or a sandbox someone else started (``JiraSandbox.attach(base_url)``)::

    with run_jira_sandbox(seed="tenant-a", issues=200) as sb:
        client = jira.JIRA(server=sb.base_url, basic_auth=(sb.email, sb.api_token))
        sb.set_faults(rate_limited=0.1, server_errors=0.1)
        sb.update_issue("ENG-1", status="Done")
        other = sb.add_site(seed="tenant-b")  # a second tenant on the same server
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from okr_sandboxes.faults import FaultConfig
from okr_sandboxes.github.app import GitHubSandboxApp, GitHubSiteConfig
from okr_sandboxes.jira.app import JiraSandboxApp, JiraSiteConfig
from okr_sandboxes.server import ServerThread, TLSFiles, make_tls_files


def site_name(seed: str) -> str:
    """A URL-safe site name for a seed (``"Tenant A!"`` -> ``"tenant-a"``)."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", seed.lower()).strip("-._")
    return (name or "site")[:63]


class SandboxHandle:
    """One sandbox site, driven through its admin endpoints."""

    def __init__(self, base_url: str, *, ca_bundle: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.ca_bundle = ca_bundle
        verify = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self._http = httpx.Client(timeout=30.0, verify=verify, trust_env=False)
        self._info = self._call("GET", "/state")

    @classmethod
    def attach(cls, base_url: str, *, ca_bundle: str | None = None) -> Self:
        """A handle for a site that is already running (e.g. started by the runner)."""
        return cls(base_url, ca_bundle=ca_bundle)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def admin_url(self) -> str:
        return self.base_url + "/_sandbox"

    @property
    def site(self) -> str:
        return str(self._info["site"])

    @property
    def seed(self) -> str:
        return str(self._info["seed"])

    @property
    def server_url(self) -> str:
        raise NotImplementedError

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(method, self.admin_url + path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(
                f"sandbox admin {method} {path} answered {response.status_code}: {response.text}"
            )
        return response.json() if response.content else None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- shared admin operations ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", "/state")
        return data

    def set_faults(
        self,
        *,
        rate_limited: float = 0.0,
        retry_after: int = 1,
        server_errors: float = 0.0,
        error_statuses: Sequence[int] = (500, 502, 503),
        slow: float = 0.0,
        delay: float = 0.0,
        unauthorized: bool = False,
        seed: str = "faults",
        paths: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Replace the fault settings (see :class:`~okr_sandboxes.faults.FaultConfig`)."""
        config = FaultConfig(
            rate_limited=rate_limited,
            retry_after=retry_after,
            server_errors=server_errors,
            error_statuses=tuple(error_statuses),
            slow=slow,
            delay=delay,
            unauthorized=unauthorized,
            seed=seed,
            paths=tuple(paths),
        )
        data: dict[str, Any] = self._call("POST", "/faults", config.to_json())
        return data

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def faults(self) -> dict[str, Any]:
        """``{"config": {...}, "injected": {"429": n, "500": n, "slow": n, ...}}``."""
        data: dict[str, Any] = self._call("GET", "/faults")
        return data

    def requests(self) -> dict[str, Any]:
        """``total``, ``items_served``, ``by_route``, ``by_status``, ``recent`` since the last
        reset (vendor API requests only)."""
        data: dict[str, Any] = self._call("GET", "/requests")
        return data

    def reset_requests(self) -> None:
        self._call("DELETE", "/requests")

    def items_served(self) -> int:
        """Issues (Jira) or pull requests (GitHub) returned since the last reset."""
        return int(self.requests()["items_served"])

    def register_webhook(
        self,
        url: str,
        secret: str,
        *,
        events: Sequence[str] = (),
        filter: str | None = None,
    ) -> dict[str, Any]:
        """Deliver this site's change events to ``url``, signed with ``secret``.

        ``filter``: a JQL query (Jira) or comma-separated repository names (GitHub).
        """
        body = {"url": url, "secret": secret, "events": list(events), "filter": filter}
        data: dict[str, Any] = self._call("POST", "/webhooks", body)
        return data

    def unregister_webhook(self, hook_id: int) -> None:
        self._call("DELETE", f"/webhooks/{hook_id}")

    def deliveries(self, *, with_body: bool = False) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._call(
            "GET", "/webhooks/deliveries" + ("?body=1" if with_body else "")
        )
        return data

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery was delivered or given up."""
        response = self._http.post(self.admin_url + "/webhooks/flush", json={"timeout": timeout})
        return bool(response.json()["done"])

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        """Send a recorded delivery again: same id, same body, same signature."""
        data: dict[str, Any] = self._call("POST", f"/webhooks/deliveries/{delivery_id}/redeliver")
        return data

    def set_activity(self, tick: float | None) -> None:
        """Start (every ``tick`` seconds) or stop (None) the background activity."""
        self._call("POST", "/activity", {"enabled": tick is not None, "tick": tick})

    def tick(self, steps: int = 1) -> list[dict[str, Any]]:
        """Run ``steps`` activity steps now; returns the changes made."""
        data: list[dict[str, Any]] = self._call("POST", "/activity/tick", {"steps": steps})[
            "changes"
        ]
        return data


class JiraSandbox(SandboxHandle):
    """A Jira sandbox site: ``base_url`` is what the ``jira`` client takes as ``server``."""

    @property
    def email(self) -> str:
        return str(self._info["email"])

    @property
    def api_token(self) -> str:
        return str(self._info["api_token"])

    @property
    def access_token(self) -> str:
        """An OAuth 2.0 access token, accepted as ``Authorization: Bearer`` (``token_auth=``)."""
        return str(self._info["access_token"])

    @property
    def account_id(self) -> str:
        return str(self._info["account_id"])

    @property
    def server_url(self) -> str:
        return self.base_url.rsplit("/ex/jira/", 1)[0]

    def add_site(self, *, seed: str, name: str | None = None, **settings: Any) -> JiraSandbox:
        """Another tenant on the same server (settings as for :func:`run_jira_sandbox`)."""
        return _add_site(self, JiraSandbox, seed, name, settings)

    def add_issues(
        self, count: int = 1, *, project: str | None = None, **fields: Any
    ) -> list[dict[str, Any]]:
        """File issues now (``summary``, ``status``, ``issuetype``, ``story_points``,
        ``labels``, ``priority``); returns the changes."""
        body: dict[str, Any] = {"count": count, **fields}
        if project is not None:
            body["project"] = project
        data: list[dict[str, Any]] = self._call("POST", "/issues", body)["changes"]
        return data

    def update_issue(
        self, key: str, *, at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Change ``status``, ``summary``, ``labels``, ``story_points``, ``issuetype``,
        ``priority`` or ``project`` (a move); ``updated`` becomes the site's now, or ``at`` (a
        time not later than that)."""
        body = {**changes, **({"at": at.isoformat()} if at is not None else {})}
        data: dict[str, Any] = self._call("PATCH", f"/issues/{key}", body)["changes"][0]
        return data

    def clock(self) -> datetime:
        """The site's time (the real clock plus what :meth:`advance_clock` played ahead)."""
        return _from_ms(self._call("GET", "/clock")["now_ms"])

    def advance_clock(self, seconds: float) -> datetime:
        """Play ``seconds`` ahead on the site's clock (it never goes back); the new time."""
        return _from_ms(self._call("POST", "/clock", {"advance_seconds": seconds})["now_ms"])

    def move_issue(self, key: str, project: str) -> str:
        """Move to another project; returns the new key (the old one still resolves)."""
        change = self._call("POST", f"/issues/{key}/move", {"project": project})["changes"][0]
        return str(change["key"])

    def delete_issue(self, key: str) -> None:
        self._call("DELETE", f"/issues/{key}")

    def issue(self, key: str) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", f"/issues/{key}")
        return data


class GitHubSandbox(SandboxHandle):
    """A GitHub sandbox site: ``base_url`` is what PyGithub takes as ``base_url``."""

    @property
    def token(self) -> str:
        return str(self._info["token"])

    @property
    def installation_token(self) -> str:
        return str(self._info["installation_token"])

    @property
    def owner(self) -> str:
        return str(self._info["owner"])

    @property
    def repos(self) -> list[str]:
        return [str(r) for r in self.state()["repos"]]

    @property
    def server_url(self) -> str:
        return self.base_url[: -len(f"/{self.site}/api/v3")]

    def add_site(self, *, seed: str, name: str | None = None, **settings: Any) -> GitHubSandbox:
        """Another tenant on the same server (settings as for :func:`run_github_sandbox`)."""
        return _add_site(self, GitHubSandbox, seed, name, settings)

    def add_repo(self, name: str) -> None:
        self._call("POST", "/repos", {"name": name})

    def open_pulls(self, repo: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._call(
            "POST", f"/repos/{repo}/pulls", {"count": count, **fields}
        )["changes"]
        return data

    def merge_pull(self, repo: str, number: int) -> dict[str, Any]:
        data: dict[str, Any] = self._call("POST", f"/repos/{repo}/pulls/{number}/merge")["changes"][
            0
        ]
        return data

    def update_pull(self, repo: str, number: int, **changes: Any) -> dict[str, Any]:
        """``state`` ("open"/"closed"), ``merged`` (True), ``title``."""
        data: dict[str, Any] = self._call("PATCH", f"/repos/{repo}/pulls/{number}", changes)[
            "changes"
        ][0]
        return data


H = TypeVar("H", bound=SandboxHandle)


def _add_site(
    handle: SandboxHandle, kind: type[H], seed: str, name: str | None, settings: dict[str, Any]
) -> H:
    body = {"name": name or site_name(seed), "seed": seed, **_jsonable(settings)}
    response = handle._http.post(handle.server_url + "/_sandbox/sites", json=body)
    if response.status_code != 201:
        raise RuntimeError(f"could not add site: {response.status_code} {response.text}")
    return kind(response.json()["base_url"], ca_bundle=handle.ca_bundle)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, FaultConfig):
            value = value.to_json()
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def _faults(value: FaultConfig | Mapping[str, Any] | None) -> FaultConfig | None:
    if value is None or isinstance(value, FaultConfig):
        return value
    return FaultConfig.from_json(value)


@contextlib.contextmanager
def _tls_files(tls: bool, tls_dir: Path | None) -> Iterator[TLSFiles | None]:
    if not tls:
        yield None
        return
    if tls_dir is not None:
        yield make_tls_files(tls_dir)
        return
    with tempfile.TemporaryDirectory(prefix="okr-sandbox-tls-") as directory:
        yield make_tls_files(Path(directory))


@contextlib.contextmanager
def run_jira_sandbox(
    *,
    seed: str = "tenant-a",
    site: str | None = None,
    issues: int = 200,
    projects: Sequence[str] = ("ENG", "OPS"),
    anchor: datetime | None = None,
    history_days: int = 120,
    activity_tick: float | None = None,
    faults: FaultConfig | Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    tls_dir: Path | None = None,
) -> Iterator[JiraSandbox]:
    """Serve a Jira Cloud sandbox with one site in a background thread; yields its handle."""
    config = JiraSiteConfig(
        name=site or site_name(seed),
        seed=seed,
        issues=issues,
        projects=tuple(projects),
        anchor=anchor,
        history_days=history_days,
        activity_tick=activity_tick,
        faults=_faults(faults),
    )
    app = JiraSandboxApp([config])
    with (
        _tls_files(tls, tls_dir) as files,
        ServerThread(app, host=host, port=port, tls=files) as server,
    ):
        app.set_server_url(server.url)
        ca = str(files.ca_bundle) if files else None
        with JiraSandbox(f"{server.url}/ex/jira/{config.name}", ca_bundle=ca) as handle:
            yield handle


@contextlib.contextmanager
def run_github_sandbox(
    *,
    seed: str = "tenant-a",
    site: str | None = None,
    owner: str = "acme",
    repos: Sequence[str] = ("api", "web"),
    pulls: int = 60,
    anchor: datetime | None = None,
    history_days: int = 120,
    rate_limit: int = 5000,
    search_rate_limit: int = 30,
    activity_tick: float | None = None,
    faults: FaultConfig | Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    tls_dir: Path | None = None,
) -> Iterator[GitHubSandbox]:
    """Serve a GitHub sandbox with one site in a background thread; yields its handle."""
    config = GitHubSiteConfig(
        name=site or site_name(seed),
        seed=seed,
        owner=owner,
        repos=tuple(repos),
        pulls=pulls,
        anchor=anchor,
        history_days=history_days,
        rate_limit=rate_limit,
        search_rate_limit=search_rate_limit,
        activity_tick=activity_tick,
        faults=_faults(faults),
    )
    app = GitHubSandboxApp([config])
    with (
        _tls_files(tls, tls_dir) as files,
        ServerThread(app, host=host, port=port, tls=files) as server,
    ):
        app.set_server_url(server.url)
        ca = str(files.ca_bundle) if files else None
        with GitHubSandbox(f"{server.url}/{config.name}/api/v3", ca_bundle=ca) as handle:
            yield handle


class SpawnedSandboxes:
    """Sandboxes served by a child ``python -m okr_sandboxes`` process."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info
        ca = info.get("ca_bundle")
        self.jira = [
            JiraSandbox(s["base_url"], ca_bundle=ca) for s in info.get("jira", {}).get("sites", [])
        ]
        self.github = [
            GitHubSandbox(s["base_url"], ca_bundle=ca)
            for s in info.get("github", {}).get("sites", [])
        ]

    def stop(self, timeout: float = 15.0) -> int:
        for handle in [*self.jira, *self.github]:
            handle.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def spawn_sandboxes(
    args: Sequence[str] = (), *, timeout: float = 60.0
) -> Iterator[SpawnedSandboxes]:
    """Run ``python -m okr_sandboxes *args`` and yield handles once it printed its URLs."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "okr_sandboxes", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        line = _read_line(process, timeout)
        spawned = SpawnedSandboxes(process, json.loads(line))
    except BaseException:
        process.kill()
        process.wait()
        raise
    try:
        yield spawned
    finally:
        spawned.stop()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            raise RuntimeError("the sandbox runner printed nothing in time")
        line = process.stdout.readline()
    finally:
        selector.close()
    if not line:
        raise RuntimeError(f"the sandbox runner exited with {process.wait()}")
    return line
