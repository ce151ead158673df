"""Migration 0009 (a Jira site's stored serverInfo, ``integrations.site_info``) upgrades and
downgrades on SQLite and PostgreSQL, keeping every integration and what hangs off it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import current_revision, upgrade
from okr_core.models import AuthKind, Integration, Metric, Source
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from tests.okr_core.migration_support import (
    BACKENDS,
    INTEGRATION_TABLES,
    columns,
    downgrade,
    fresh_database,
    row_ids,
    seed_bound_integration,
)

SITE_INFO = {
    "base_url": "https://acme.atlassian.net",
    "deploymentType": "Cloud",
    "versionNumbers": [1001, 0, 0],
    "checked_at": "2026-03-02T09:30:00+00:00",
}


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with fresh_database(request.param, tmp_path) as settings:
        yield settings


def stored_site_info(settings: Settings, tenant_id: uuid.UUID) -> dict[str, Any] | None:
    engine = make_engine(settings)
    try:
        with (
            unit_of_work(make_session_factory(engine)) as session,
            tenant_context(session, tenant_id),
        ):
            stored: dict[str, Any] | None = session.scalars(select(Integration.site_info)).one()
            return stored
    finally:
        engine.dispose()


def test_0009_round_trip_keeps_integrations_runs_and_bindings(settings: Settings) -> None:
    upgrade(settings, "0009")
    assert current_revision(settings) == "0009"
    assert "site_info" in columns(settings, "integrations")
    tenant_id, _ = seed_bound_integration(
        settings,
        source=Source.jira,
        name="Jira",
        base_url="https://acme.atlassian.net",
        auth_kind=AuthKind.api_token,
        account="a@acme.example",
        credentials={"api_token": "unused"},
        site_info=SITE_INFO,
        metric=Metric.jira_issue_count,
        binding={"jql": "project = ENG"},
    )
    assert stored_site_info(settings, tenant_id) == SITE_INFO
    kept = {t: row_ids(settings, t) for t in INTEGRATION_TABLES}
    assert all(kept.values())

    downgrade(settings, "0008")
    assert current_revision(settings) == "0008"
    assert "site_info" not in columns(settings, "integrations")
    assert {t: row_ids(settings, t) for t in kept} == kept

    upgrade(settings, "0009")
    assert current_revision(settings) == "0009"
    assert "site_info" in columns(settings, "integrations")
    assert {t: row_ids(settings, t) for t in kept} == kept
    # the column came back empty: the next sync reads the server info again
    assert stored_site_info(settings, tenant_id) is None
