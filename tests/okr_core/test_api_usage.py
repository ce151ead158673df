"""Usage aggregates: upserts add up, percentiles come from merged histograms; data versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import api_keys, api_usage, objectives, tenants
from okr_core.actors import Actor
from okr_core.api_keys import ApiKeyCodec
from okr_core.api_usage import UsageDelta, percentile
from okr_core.data_version import tenant_data_version
from okr_core.models import ApiKeyUsage
from okr_core.models.api_key import LATENCY_COLUMNS
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context

ACTOR = Actor.system("usage test")


def _delta(key_id: uuid.UUID, status: int, latencies: list[float], day: object) -> UsageDelta:
    delta = UsageDelta(api_key_id=key_id, day=day, route="/api/v1/public/objectives", status=status)  # type: ignore[arg-type]
    for latency in latencies:
        delta.add(latency)
    return delta


def test_percentile_interpolates_inside_buckets() -> None:
    histogram = [0] * len(LATENCY_COLUMNS)
    assert percentile(histogram, 0.95) is None
    histogram[3] = 100  # (3, 5] ms
    p95 = percentile(histogram, 0.95)
    assert p95 is not None
    assert 3.0 < p95 <= 5.0
    histogram[-1] = 100  # over 5 s
    assert percentile(histogram, 0.95) == 5000.0


def test_usage_upserts_add_up_and_summarise_per_day(session: Session) -> None:
    tenant = tenants.create_tenant(session, slug="usage", name="Usage")
    codec = ApiKeyCodec.from_settings(Settings(environment="test"))
    today = datetime.now(UTC).date()
    with tenant_context(session, tenant.id):
        key = api_keys.create_api_key(
            session, actor=ACTOR, codec=codec, name="u", scopes=["objectives:read"]
        ).key
        api_usage.add_usage(session, [_delta(key.id, 200, [2.0, 4.0], today)])
        api_usage.add_usage(
            session,
            [
                _delta(key.id, 200, [40.0] * 8, today),  # same row: added up, not replaced
                _delta(key.id, 429, [1.0], today),
                _delta(key.id, 500, [10.0], today - timedelta(days=3)),
            ],
        )
        rows = session.scalars(select(ApiKeyUsage).where(ApiKeyUsage.status == 200)).all()
        assert len(rows) == 1
        assert rows[0].requests == 10
        summary = api_usage.usage_summary(session, key_id=key.id, days=30)
    assert len(summary.days) == 30
    assert summary.days[-1].day == today
    assert summary.days[-1].requests == 11
    assert summary.days[-1].errors == 1
    assert summary.days[-1].error_rate == round(1 / 11, 4)
    p95 = summary.days[-1].p95_ms
    assert p95 is not None
    assert 30 < p95 <= 50
    assert summary.days[-4].server_errors == 1
    assert summary.requests == 12


def test_data_version_moves_with_changes_and_only_for_its_tenant(session: Session) -> None:
    a = tenants.create_tenant(session, slug="ver-a", name="A")
    b = tenants.create_tenant(session, slug="ver-b", name="B")
    with tenant_context(session, a.id):
        before_a = tenant_data_version(session)
    with tenant_context(session, b.id):
        before_b = tenant_data_version(session)
        objectives.create_objective(session, actor=ACTOR, title="B's", period="2026-Q4")
        session.flush()
        assert tenant_data_version(session) != before_b
    with tenant_context(session, a.id):
        assert tenant_data_version(session) == before_a
        objective = objectives.create_objective(session, actor=ACTOR, title="A's", period="2026-Q4")
        session.flush()
        after_create = tenant_data_version(session)
        assert after_create != before_a
        objectives.update_objective(
            session, actor=ACTOR, objective_id=objective.id, changes={"description": "more"}
        )
        session.flush()
        assert tenant_data_version(session) != after_create
