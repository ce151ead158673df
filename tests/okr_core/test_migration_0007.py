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
from okr_core.models import AuthKind, Metric, Source
from okr_core.settings import Settings
from okr_core.sync_schedule import claim_due_integrations
from tests.okr_core.migration_support import (
    BACKENDS,
    INTEGRATION_TABLES,
    columns,
    downgrade,
    fresh_database,
    row_ids,
    seed_bound_integration,
)


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with fresh_database(request.param, tmp_path) as settings:
        yield settings


def test_0007_round_trip_keeps_integrations_runs_and_bindings(settings: Settings) -> None:
    upgrade(settings, "0007")
    assert current_revision(settings) == "0007"
    assert "sync_requested_at" in columns(settings, "integrations")
    _, integration_id = seed_bound_integration(
        settings,
        source=Source.github,
        name="GitHub",
        base_url="https://api.github.com",
        auth_kind=AuthKind.token,
        account="acme",
        credentials={"token": "unused"},
        next_sync_at=datetime.now(UTC),
        sync_requested_at=datetime.now(UTC),
        metric=Metric.github_merged_prs,
        binding={"repositories": ["acme/api"]},
    )
    counts = {t: row_ids(settings, t) for t in INTEGRATION_TABLES}
    assert all(counts.values())

    downgrade(settings, "0006")
    assert current_revision(settings) == "0006"
    assert "sync_requested_at" not in columns(settings, "integrations")
    assert {t: row_ids(settings, t) for t in counts} == counts
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
    assert {t: row_ids(settings, t) for t in counts} == counts
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
