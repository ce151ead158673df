"""The demo's sources: Jira and GitHub sandboxes, connected to tenant ``demo`` so its KRs move.

``okr-hub demo`` starts ``python -m okr_sandboxes`` as one more supervised child (``okr_api``
never imports the sandboxes; it talks to them over HTTP like any client), with an activity tick
that moves issues and merges pull requests. Once the API and the sandboxes answer,
:func:`connect_demo_sources` connects the demo tenant through the same core services an admin
uses:

* integrations "Jira sandbox" and "GitHub sandbox" pointing at the sandboxes, with the sandbox
  credentials (created on the first run, re-pointed at the new ports on later runs);
* a fresh webhook secret for each, registered with the sandbox so its signed deliveries reach
  ``/webhooks/{jira,github}/{id}`` and the webhook sensor syncs within a minute;
* an objective of the current quarter whose key results are bound to Jira and GitHub metrics;
* "sync now" on both, so the first values arrive within a minute of the demo starting.
"""

from __future__ import annotations

import socket
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.cli.console import CliError
from okr_api.cli.session import owner_session
from okr_core import integrations, key_results, kr_bindings, objectives, tenants
from okr_core.actors import Actor
from okr_core.demo_data import DEMO_SLUG
from okr_core.models import Integration, KeyResult, Metric, Objective, Source
from okr_core.periods import period_of
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context

SANDBOX_SITE = DEMO_SLUG
ACTIVITY_SECONDS = 20.0
JIRA_NAME = "Jira sandbox"
GITHUB_NAME = "GitHub sandbox"
SYNC_INTERVAL_MINUTES = 5
LIVE_OBJECTIVE = "Keep delivery flowing (live from Jira and GitHub)"
STORY_POINTS = "Story point estimate"


@dataclass(frozen=True)
class LiveKeyResult:
    title: str
    unit: str
    start: float
    target: float
    source: Source
    metric: Metric
    parameters: dict[str, Any]


LIVE_KEY_RESULTS = (
    LiveKeyResult(
        "Engineering issues done", "%", 0, 80, Source.jira, Metric.jira_done_share,
        {"jql": "project = ENG"},
    ),
    LiveKeyResult(
        "Story points delivered in OPS", "pts", 0, 150, Source.jira, Metric.jira_field_sum,
        {"jql": "project = OPS AND statusCategory = Done", "field": STORY_POINTS},
    ),
    LiveKeyResult(
        "Pull requests merged", "PRs", 0, 60, Source.github, Metric.github_merged_prs,
        {"repositories": ["{owner}/api", "{owner}/web"]},
    ),
    LiveKeyResult(
        "Pull request merge rate", "%", 50, 90, Source.github, Metric.github_merge_rate,
        {"repositories": ["{owner}/api", "{owner}/web"]},
    ),
    LiveKeyResult(
        "Median hours to merge", "hours", 72, 24, Source.github,
        Metric.github_median_hours_to_merge, {"repositories": ["{owner}/api", "{owner}/web"]},
    ),
)  # fmt: skip


@dataclass(frozen=True)
class SandboxPorts:
    host: str
    jira: int
    github: int

    @property
    def jira_base_url(self) -> str:
        return f"http://{self.host}:{self.jira}/ex/jira/{SANDBOX_SITE}"

    @property
    def github_base_url(self) -> str:
        return f"http://{self.host}:{self.github}/{SANDBOX_SITE}/api/v3"

    def probes(self) -> dict[str, str]:
        """URLs that answer 200 once each sandbox serves the demo site."""
        return {
            "Jira sandbox": f"{self.jira_base_url}/_sandbox/state",
            "GitHub sandbox": f"{self.github_base_url}/_sandbox/state",
        }

    def argv(self, *, activity_seconds: float = ACTIVITY_SECONDS) -> list[str]:
        """``python -m okr_sandboxes`` serving the demo site, with activity on."""
        return [
            sys.executable,
            "-m",
            "okr_sandboxes",
            "--host",
            self.host,
            "--jira-port",
            str(self.jira),
            "--github-port",
            str(self.github),
            "--tenant",
            SANDBOX_SITE,
            "--activity",
            str(activity_seconds),
        ]


@dataclass(frozen=True)
class DemoSources:
    jira_url: str
    github_url: str
    bound: list[str]
    objective: str


def free_port(host: str) -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def pick_ports(host: str, *, jira: int = 0, github: int = 0) -> SandboxPorts:
    jira = jira or free_port(host)
    github = github or free_port(host)
    while github == jira:
        github = free_port(host)
    return SandboxPorts(host=host, jira=jira, github=github)


def connect_demo_sources(
    settings: Settings,
    *,
    ports: SandboxPorts,
    api_url: str,
    now: datetime | None = None,
) -> DemoSources:
    """Connect tenant ``demo`` to the running sandboxes (idempotent across demo runs)."""
    now = now or datetime.now(UTC)
    cipher = CredentialCipher.from_settings(settings)
    actor = Actor.cli()
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        jira_state = _state(client, ports.jira_base_url)
        github_state = _state(client, ports.github_base_url)
        with owner_session(settings) as session:
            tenant = tenants.get_tenant_by_slug(session, DEMO_SLUG)
            with tenant_context(session, tenant.id):
                jira = _ensure_integration(
                    session,
                    cipher=cipher,
                    actor=actor,
                    source=Source.jira,
                    name=JIRA_NAME,
                    base_url=ports.jira_base_url,
                    auth_kind="api_token",
                    account=str(jira_state["email"]),
                    secret=str(jira_state["api_token"]),
                )
                github = _ensure_integration(
                    session,
                    cipher=cipher,
                    actor=actor,
                    source=Source.github,
                    name=GITHUB_NAME,
                    base_url=ports.github_base_url,
                    auth_kind="token",
                    account=str(github_state["owner"]),
                    secret=str(github_state["token"]),
                )
                hooks = [
                    (jira, ports.jira_base_url, "jira"),
                    (github, ports.github_base_url, "github"),
                ]
                for row, base_url, path in hooks:
                    issued = integrations.rotate_webhook_secret(
                        session, actor=actor, cipher=cipher, integration_id=row
                    )
                    _register_webhook(
                        client,
                        base_url,
                        url=f"{api_url}/webhooks/{path}/{row}",
                        secret=issued.webhook_secret,
                    )
                owner = str(github_state["owner"])
                bound = _bind_live_key_results(
                    session, actor=actor, jira_id=jira, github_id=github, owner=owner, now=now
                )
                for row in (jira, github):
                    integrations.request_sync(session, actor=actor, integration_id=row, now=now)
    return DemoSources(
        jira_url=ports.jira_base_url,
        github_url=ports.github_base_url,
        bound=bound,
        objective=LIVE_OBJECTIVE,
    )


def _state(client: httpx.Client, base_url: str) -> dict[str, Any]:
    try:
        response = client.get(f"{base_url}/_sandbox/state")
    except httpx.HTTPError as exc:
        raise CliError(f"the sandbox at {base_url} does not answer: {exc}") from None
    if response.status_code != 200:
        raise CliError(f"the sandbox at {base_url} answered {response.status_code}")
    state: dict[str, Any] = response.json()
    return state


def _register_webhook(client: httpx.Client, base_url: str, *, url: str, secret: str) -> None:
    response = client.post(
        f"{base_url}/_sandbox/webhooks",
        json={"url": url, "secret": secret, "events": [], "filter": None},
    )
    if response.status_code >= 400:
        raise CliError(
            f"the sandbox at {base_url} refused the webhook registration ({response.status_code})"
        )


def _ensure_integration(
    session: Session,
    *,
    cipher: CredentialCipher,
    actor: Actor,
    source: Source,
    name: str,
    base_url: str,
    auth_kind: str,
    account: str,
    secret: str,
) -> uuid.UUID:
    existing = session.scalars(
        select(Integration).where(Integration.source == source, Integration.name == name)
    ).one_or_none()
    if existing is None:
        return integrations.create_integration(
            session,
            actor=actor,
            cipher=cipher,
            source=source,
            name=name,
            base_url=base_url,
            auth_kind=auth_kind,
            account=account,
            secret=secret,
            sync_interval_minutes=SYNC_INTERVAL_MINUTES,
        ).integration.id
    integrations.update_integration(
        session,
        actor=actor,
        cipher=cipher,
        integration_id=existing.id,
        changes={
            "base_url": base_url,
            "auth_kind": auth_kind,
            "account": account,
            "secret": secret,
            "is_paused": False,
        },
    )
    return existing.id


def _bind_live_key_results(
    session: Session,
    *,
    actor: Actor,
    jira_id: uuid.UUID,
    github_id: uuid.UUID,
    owner: str,
    now: datetime,
) -> list[str]:
    period = period_of(now.date()).name
    objective = session.scalars(
        select(Objective).where(Objective.title == LIVE_OBJECTIVE, Objective.period == period)
    ).one_or_none()
    if objective is None:
        objective = objectives.create_objective(
            session,
            actor=actor,
            title=LIVE_OBJECTIVE,
            period=period,
            description="Key results bound to the Jira and GitHub sandboxes: they move by "
            "themselves as the sandboxes' activity moves issues and merges pull requests.",
        )
    bound = []
    for spec in LIVE_KEY_RESULTS:
        kr = session.scalars(
            select(KeyResult).where(
                KeyResult.objective_id == objective.id, KeyResult.title == spec.title
            )
        ).one_or_none()
        if kr is None:
            kr = key_results.create_key_result(
                session,
                actor=actor,
                objective_id=objective.id,
                title=spec.title,
                unit=spec.unit,
                start_value=spec.start,
                target_value=spec.target,
            )
        parameters = {
            key: [item.format(owner=owner) for item in value] if isinstance(value, list) else value
            for key, value in spec.parameters.items()
        }
        kr_bindings.set_binding(
            session,
            actor=actor,
            key_result_id=kr.id,
            integration_id=jira_id if spec.source is Source.jira else github_id,
            metric=spec.metric,
            parameters=parameters,
            now=now,
        )
        bound.append(spec.title)
    return bound
