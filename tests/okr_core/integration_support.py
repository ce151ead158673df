"""Builders shared by the integration tests of okr_core and okr_api."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import integrations, key_results, objectives
from okr_core.actors import Actor
from okr_core.integrations import IssuedSecret
from okr_core.models import AuditEvent, KeyResult
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings

ACTOR = Actor.system("test")
JIRA_TOKEN = "ATATT3xFfGF0-jira-top-secret-token"
GITHUB_TOKEN = "ghp_github-top-secret-token-0123456789"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def cipher_for(settings: Settings | None = None) -> CredentialCipher:
    return CredentialCipher.from_settings(settings or Settings(environment="test"))


def make_jira(
    session: Session, cipher: CredentialCipher, *, name: str = "Jira Cloud", **overrides: Any
) -> IssuedSecret:
    values: dict[str, Any] = {
        "source": "jira",
        "name": name,
        "base_url": "https://acme.atlassian.net",
        "auth_kind": "api_token",
        "account": "robot@acme.example.com",
        "secret": JIRA_TOKEN,
    }
    values.update(overrides)
    return integrations.create_integration(session, actor=ACTOR, cipher=cipher, **values)


def make_github(
    session: Session, cipher: CredentialCipher, *, name: str = "GitHub", **overrides: Any
) -> IssuedSecret:
    values: dict[str, Any] = {
        "source": "github",
        "name": name,
        "base_url": "https://api.github.com",
        "auth_kind": "token",
        "account": "acme",
        "secret": GITHUB_TOKEN,
    }
    values.update(overrides)
    return integrations.create_integration(session, actor=ACTOR, cipher=cipher, **values)


def make_key_result(
    session: Session, *, title: str = "Ship it", period: str = "2026-Q4"
) -> KeyResult:
    objective = objectives.create_objective(
        session, actor=ACTOR, title=f"Objective {uuid.uuid4().hex[:6]}", period=period
    )
    return key_results.create_key_result(
        session,
        actor=ACTOR,
        objective_id=objective.id,
        title=title,
        start_value=0,
        target_value=100,
    )


def audit_text(session: Session) -> str:
    """Every audit event of the session's tenant as one JSON string, to search for secrets."""
    rows = session.scalars(select(AuditEvent)).all()
    return json.dumps(
        [
            {
                "action": row.action,
                "target": row.target_id,
                "label": row.actor_label,
                "changes": row.changes,
            }
            for row in rows
        ],
        default=str,
    )


def audit_actions(session: Session) -> list[str]:
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.occurred_at)).all()
    return [row.action for row in rows]
