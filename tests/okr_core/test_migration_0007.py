"""Migration 0007 ("Sync now" requests) upgrades and downgrades on SQLite and PostgreSQL,
keeping every integration and what hangs off it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import current_revision, upgrade
from okr_core.models import AuthKind, Integration, Metric, Source, SyncRun, SyncStatus, SyncTrigger
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.sync_schedule import claim_due_integrations
from okr_core.tenancy import tenant_context
from tests.okr_core.migration_support import BACKENDS, columns, downgrade, fresh_database
from tests.okr_core.sources.support import bind, create_key_result, create_tenant


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with fresh_database(request.param, tmp_path) as settings:
        yield settings


def count(settings: Settings, table: str) -> int:
    engine = make_engine(settings, as_owner=True)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_0007_round_trip_keeps_integrations_runs_and_bindings(settings: Settings) -> None:
    upgrade(settings, "0007")
    assert current_revision(settings) == "0007"
    assert "sync_requested_at" in columns(settings, "integrations")
    engine = make_engine(settings)
    cipher = CredentialCipher.from_settings(settings)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            tenant_id = create_tenant(session, "kept")
            with tenant_context(session, tenant_id):
                integration = Integration(
                    source=Source.github,
                    name="GitHub",
                    base_url="https://api.github.com",
                    auth_kind=AuthKind.token,
                    account="acme",
                    credentials_ciphertext=cipher.encrypt({"token": "unused"}),
                    next_sync_at=datetime.now(UTC),
                    sync_requested_at=datetime.now(UTC),
                )
                session.add(integration)
                session.flush()
                bind(
                    session,
                    key_result=create_key_result(session),
                    integration=integration,
                    metric=Metric.github_merged_prs,
                    repositories=["acme/api"],
                )
                session.add(
                    SyncRun(
                        integration_id=integration.id,
                        trigger=SyncTrigger.manual,
                        status=SyncStatus.succeeded,
                    )
                )
            integration_id = integration.id
    finally:
        engine.dispose()
    counts = {t: count(settings, t) for t in ("integrations", "kr_bindings", "sync_runs")}
    assert all(counts.values())

    downgrade(settings, "0006")
    assert current_revision(settings) == "0006"
    assert "sync_requested_at" not in columns(settings, "integrations")
    assert {t: count(settings, t) for t in counts} == counts
    if settings.database_url:  # the 0006 claim function is back and still claims
        engine = make_engine(settings, as_owner=True)
        try:
            with engine.begin() as connection:
                rows = connection.execute(
                    text("SELECT * FROM okr_claim_due_integrations(:now, :sources, 10)"),
                    {"now": datetime.now(UTC) + timedelta(days=1), "sources": [Source.github]},
                ).all()
            assert len(rows) == 1
            assert len(rows[0]) == 3
        finally:
            engine.dispose()

    upgrade(settings, "0007")
    assert current_revision(settings) == "0007"
    assert {t: count(settings, t) for t in counts} == counts
    engine = make_engine(settings)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            [due] = claim_due_integrations(
                session, now=datetime.now(UTC) + timedelta(days=2), limit=10
            )
        assert due.integration_id == integration_id
        assert due.sync_requested_at is None  # the column came back empty
    finally:
        engine.dispose()
