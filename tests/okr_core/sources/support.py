"""Seeding helpers for source tests: a key result in the current quarter, an integration with
encrypted credentials pointed at a sandbox, and a binding. Used by the okr_core and the
okr_pipelines tests alike (bindings are written as rows: the binding services belong to the
API face's work)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from okr_core import key_results, objectives, tenants
from okr_core.actors import Actor
from okr_core.models import AuthKind, Integration, KeyResult, KrBinding, Metric, Source
from okr_core.periods import period_of
from okr_core.secrets import CredentialCipher, derive_key
from okr_core.tenancy import tenant_context
from okr_sandboxes import GitHubSandbox, JiraSandbox

ACTOR = Actor.system("test")
CIPHER = CredentialCipher([derive_key("tests-only-secret", purpose="okr-credentials-v1")])


def current_period() -> str:
    return period_of(datetime.now(UTC).date()).name


def create_tenant(session: Session, slug: str) -> uuid.UUID:
    return tenants.create_tenant(session, slug=slug, name=f"Tenant {slug}").id


def create_key_result(
    session: Session, *, title: str = "Ship it", objective: str = "Deliver", period: str = ""
) -> KeyResult:
    existing = [o for o in objectives.list_objectives(session) if o.title == objective]
    parent = existing[0] if existing else None
    if parent is None:
        parent = objectives.create_objective(
            session, actor=ACTOR, title=objective, period=period or current_period()
        )
    return key_results.create_key_result(
        session,
        actor=ACTOR,
        objective_id=parent.id,
        title=title,
        start_value=0,
        target_value=100,
    )


def jira_integration(
    session: Session,
    sandbox: JiraSandbox,
    *,
    name: str = "Jira",
    api_token: str | None = None,
    oauth: bool = False,
    interval: int = 60,
    next_sync_at: datetime | None = None,
    cipher: CredentialCipher = CIPHER,
) -> Integration:
    if oauth:
        credentials: dict[str, Any] = {"access_token": sandbox.access_token}
        kind = AuthKind.oauth_token
    else:
        credentials = {"api_token": api_token or sandbox.api_token}
        kind = AuthKind.api_token
    integration = Integration(
        source=Source.jira,
        name=name,
        base_url=sandbox.base_url,
        auth_kind=kind,
        account=sandbox.email,
        credentials_ciphertext=cipher.encrypt(credentials),
        sync_interval_minutes=interval,
        next_sync_at=next_sync_at,
    )
    session.add(integration)
    session.flush()
    return integration


def github_integration(
    session: Session,
    sandbox: GitHubSandbox,
    *,
    name: str = "GitHub",
    token: str | None = None,
    interval: int = 60,
    next_sync_at: datetime | None = None,
    cipher: CredentialCipher = CIPHER,
) -> Integration:
    integration = Integration(
        source=Source.github,
        name=name,
        base_url=sandbox.base_url,
        auth_kind=AuthKind.token,
        account=sandbox.owner,
        credentials_ciphertext=cipher.encrypt({"token": token or sandbox.token}),
        sync_interval_minutes=interval,
        next_sync_at=next_sync_at,
    )
    session.add(integration)
    session.flush()
    return integration


def bind(
    session: Session,
    *,
    key_result: KeyResult,
    integration: Integration,
    metric: Metric,
    whole_history: bool = False,
    **parameters: Any,
) -> KrBinding:
    binding = KrBinding(
        key_result_id=key_result.id,
        integration_id=integration.id,
        metric=metric,
        parameters=parameters,
        whole_history=whole_history,
    )
    session.add(binding)
    session.flush()
    return binding


def in_tenant(session: Session, tenant_id: uuid.UUID) -> Any:
    return tenant_context(session, tenant_id)


JIRA_JQL = "project = ENG"
JIRA_BINDINGS: dict[str, tuple[Metric, dict[str, Any]]] = {
    "jira count": (Metric.jira_issue_count, {"jql": JIRA_JQL}),
    "jira done share": (Metric.jira_done_share, {"jql": JIRA_JQL}),
    "jira points": (
        Metric.jira_field_sum,
        {"jql": f"{JIRA_JQL} AND statusCategory = Done", "field": "Story Points"},
    ),
}
GITHUB_BINDINGS: dict[str, tuple[Metric, dict[str, Any]]] = {
    "github merged": (Metric.github_merged_prs, {"repositories": ["acme/api", "acme/web"]}),
    "github merge rate": (Metric.github_merge_rate, {"repositories": ["acme/api"]}),
    "github hours": (Metric.github_median_hours_to_merge, {"repositories": ["acme/web"]}),
}


def seed_tenant(
    session: Session,
    slug: str,
    *,
    cipher: CredentialCipher,
    jira: JiraSandbox | None = None,
    github: GitHubSandbox | None = None,
    next_sync_at: datetime | None = None,
) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A tenant whose KRs are bound to the sandboxes; returns its id and integrations by source."""
    tenant_id = create_tenant(session, slug)
    integrations: dict[str, uuid.UUID] = {}
    with tenant_context(session, tenant_id):
        if jira is not None:
            integration = jira_integration(session, jira, cipher=cipher, next_sync_at=next_sync_at)
            integrations["jira"] = integration.id
            for title, (metric, parameters) in JIRA_BINDINGS.items():
                kr = create_key_result(session, title=title)
                bind(session, key_result=kr, integration=integration, metric=metric, **parameters)
        if github is not None:
            integration = github_integration(
                session, github, cipher=cipher, next_sync_at=next_sync_at
            )
            integrations["github"] = integration.id
            for title, (metric, parameters) in GITHUB_BINDINGS.items():
                kr = create_key_result(session, title=title)
                bind(session, key_result=kr, integration=integration, metric=metric, **parameters)
    return tenant_id, integrations
