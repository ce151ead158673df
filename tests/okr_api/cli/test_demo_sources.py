"""``okr-hub demo``'s sources and ``okr-hub sandbox``: the demo tenant connected to running
sandboxes (integrations, live key results bound, webhooks registered and delivered through the
real API), idempotent across runs, on SQLite and PostgreSQL; the sandbox command as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.app import create_app
from okr_api.cli.demo_sources import (
    GITHUB_NAME,
    JIRA_NAME,
    LIVE_KEY_RESULTS,
    LIVE_OBJECTIVE,
    SandboxPorts,
    connect_demo_sources,
)
from okr_api.cli.session import owner_session
from okr_core import tenants
from okr_core.db.migrate import upgrade
from okr_core.demo_data import DEMO_SLUG, seed_demo
from okr_core.integrations import credentials_of
from okr_core.models import Integration, KeyResult, KrBinding, Objective, Tenant, WebhookEvent
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from okr_sandboxes.api import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from okr_sandboxes.server import ServerThread
from tests.conftest import PG_ADMIN_URL, _create_pg_database, _drop_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A fresh database (these tests commit) with the demo tenant seeded."""
    if request.param == "sqlite":
        settings = Settings(environment="test", data_dir=tmp_path, database_url="")
        name = None
    else:
        name = _create_pg_database()
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        settings = Settings(environment="test", data_dir=tmp_path, database_url=f"{base}/{name}")
    upgrade(settings)
    with owner_session(settings) as session:
        seed_demo(session, admin_password="demo sources test password")
    try:
        yield settings
    finally:
        if name is not None:
            _drop_pg_database(name)


@pytest.fixture(scope="module")
def jira_sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="demo", site="demo", issues=40) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="demo", site="demo", pulls=30) as sandbox:
        yield sandbox


@pytest.fixture
def ports(jira_sandbox: JiraSandbox, github_sandbox: GitHubSandbox) -> SandboxPorts:
    jira, github = urlsplit(jira_sandbox.base_url), urlsplit(github_sandbox.base_url)
    assert jira.port is not None
    assert github.port is not None
    sandbox_ports = SandboxPorts(host="127.0.0.1", jira=jira.port, github=github.port)
    assert sandbox_ports.jira_base_url == jira_sandbox.base_url
    assert sandbox_ports.github_base_url == github_sandbox.base_url
    return sandbox_ports


@pytest.fixture
def api_url(demo_settings: Settings) -> Iterator[str]:
    """The real app, serving the demo database, for the sandboxes' webhook deliveries."""
    with ServerThread(create_app(demo_settings)) as server:
        yield server.url


def _demo(session: Session) -> Tenant:
    return tenants.get_tenant_by_slug(session, DEMO_SLUG)


def test_demo_tenant_is_connected_to_the_sandboxes(
    demo_settings: Settings,
    ports: SandboxPorts,
    api_url: str,
    jira_sandbox: JiraSandbox,
    github_sandbox: GitHubSandbox,
) -> None:
    sources = connect_demo_sources(demo_settings, ports=ports, api_url=api_url)

    assert sources.bound == [spec.title for spec in LIVE_KEY_RESULTS]
    cipher = CredentialCipher.from_settings(demo_settings)
    with owner_session(demo_settings) as session, tenant_context(session, _demo(session).id):
        rows = {row.name: row for row in session.scalars(select(Integration)).all()}
        assert set(rows) == {JIRA_NAME, GITHUB_NAME}
        jira, github = rows[JIRA_NAME], rows[GITHUB_NAME]
        assert jira.base_url == jira_sandbox.base_url
        assert jira.account == jira_sandbox.email
        assert credentials_of(jira, cipher) == {"api_token": jira_sandbox.api_token}
        assert credentials_of(github, cipher) == {"token": github_sandbox.token}
        assert jira.next_sync_at is not None  # "sync now": due at once
        objective = session.scalars(
            select(Objective).where(Objective.title == LIVE_OBJECTIVE)
        ).one()
        krs = session.scalars(select(KeyResult).where(KeyResult.objective_id == objective.id))
        bindings = {b.key_result_id: b for b in session.scalars(select(KrBinding)).all()}
        by_title = {kr.title: bindings[kr.id] for kr in krs}
        assert set(by_title) == set(sources.bound)
        assert by_title["Pull requests merged"].parameters == {
            "repositories": ["acme/api", "acme/web"]
        }
        assert by_title["Engineering issues done"].integration_id == jira.id
    for sandbox, row in ((jira_sandbox, jira), (github_sandbox, github)):
        hooks = sandbox.state()["webhooks"]
        urls = [hook["url"] for hook in hooks]
        assert f"{api_url}/webhooks/{row.source.value}/{row.id}" in urls


def test_sandbox_activity_reaches_the_api_as_signed_webhooks_once(
    demo_settings: Settings, ports: SandboxPorts, api_url: str, github_sandbox: GitHubSandbox
) -> None:
    connect_demo_sources(demo_settings, ports=ports, api_url=api_url)
    before = len(github_sandbox.deliveries())
    github_sandbox.tick(6)
    assert github_sandbox.flush_webhooks(timeout=20)
    deliveries = github_sandbox.deliveries()[before:]
    assert deliveries, "the activity produced no webhook delivery"
    ours = [d for d in deliveries if d["url"].startswith(api_url)]
    assert ours
    assert all(d["state"] == "delivered" for d in ours), ours

    def queued() -> list[WebhookEvent]:
        with owner_session(demo_settings) as session, tenant_context(session, _demo(session).id):
            return list(session.scalars(select(WebhookEvent)).all())

    events = queued()
    assert {e.delivery_id for e in events} >= {d["id"] for d in ours}
    github_sandbox.redeliver(ours[0]["id"])
    assert github_sandbox.flush_webhooks(timeout=20)
    assert len(queued()) == len(events), "a redelivery must not queue a second event"


def test_connecting_again_is_idempotent(
    demo_settings: Settings, ports: SandboxPorts, api_url: str
) -> None:
    connect_demo_sources(demo_settings, ports=ports, api_url=api_url)
    with owner_session(demo_settings) as session, tenant_context(session, _demo(session).id):
        first_ids = sorted(str(i) for i in session.scalars(select(Integration.id)).all())
    connect_demo_sources(demo_settings, ports=ports, api_url=api_url)
    with owner_session(demo_settings) as session, tenant_context(session, _demo(session).id):
        assert sorted(str(i) for i in session.scalars(select(Integration.id)).all()) == first_ids
        assert len(session.scalars(select(KrBinding)).all()) == len(LIVE_KEY_RESULTS)
        objectives = session.scalars(
            select(Objective).where(Objective.title == LIVE_OBJECTIVE)
        ).all()
        assert len(objectives) == 1


@pytest.mark.slow
def test_sandbox_command_prints_urls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    okr_hub = Path(sys.executable).parent / "okr-hub"
    process = subprocess.Popen(
        [str(okr_hub), "sandbox", "--json", "--tenant", "acme", "--issues", "5", "--pulls", "5"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["jira"]["sites"][0]["base_url"].endswith("/ex/jira/acme")
        assert info["github"]["sites"][0]["base_url"].endswith("/acme/api/v3")
        with JiraSandbox.attach(info["jira"]["sites"][0]["base_url"]) as handle:
            assert handle.site == "acme"
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
