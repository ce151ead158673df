"""Migration 0009 (a Jira site's stored serverInfo, ``integrations.site_info``) upgrades and
downgrades on SQLite and PostgreSQL, keeping every integration and what hangs off it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import current_revision, upgrade
from okr_core.models import AuthKind, Integration, Metric, Source, SyncRun, SyncStatus, SyncTrigger
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from tests.okr_core.migration_support import BACKENDS, columns, downgrade, fresh_database
from tests.okr_core.sources.support import bind, create_key_result, create_tenant

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


def rows(settings: Settings, table: str) -> list[tuple[object, ...]]:
    engine = make_engine(settings, as_owner=True)
    try:
        with engine.connect() as connection:
            query = f"SELECT id FROM {table} ORDER BY id"
            return [tuple(r) for r in connection.execute(text(query))]
    finally:
        engine.dispose()


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
    engine = make_engine(settings)
    cipher = CredentialCipher.from_settings(settings)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            tenant_id = create_tenant(session, "kept")
            with tenant_context(session, tenant_id):
                integration = Integration(
                    source=Source.jira,
                    name="Jira",
                    base_url="https://acme.atlassian.net",
                    auth_kind=AuthKind.api_token,
                    account="a@acme.example",
                    credentials_ciphertext=cipher.encrypt({"api_token": "unused"}),
                    site_info=SITE_INFO,
                )
                session.add(integration)
                session.flush()
                bind(
                    session,
                    key_result=create_key_result(session),
                    integration=integration,
                    metric=Metric.jira_issue_count,
                    jql="project = ENG",
                )
                session.add(
                    SyncRun(
                        integration_id=integration.id,
                        trigger=SyncTrigger.manual,
                        status=SyncStatus.succeeded,
                    )
                )
    finally:
        engine.dispose()
    assert stored_site_info(settings, tenant_id) == SITE_INFO
    kept = {t: rows(settings, t) for t in ("integrations", "kr_bindings", "sync_runs")}
    assert all(kept.values())

    downgrade(settings, "0008")
    assert current_revision(settings) == "0008"
    assert "site_info" not in columns(settings, "integrations")
    assert {t: rows(settings, t) for t in kept} == kept

    upgrade(settings, "0009")
    assert current_revision(settings) == "0009"
    assert "site_info" in columns(settings, "integrations")
    assert {t: rows(settings, t) for t in kept} == kept
    # the column came back empty: the next sync reads the server info again
    assert stored_site_info(settings, tenant_id) is None
