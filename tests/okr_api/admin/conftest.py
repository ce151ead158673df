"""OKRs for the admin page tests: two periods of tenant A (one aligned to another objective), a
key result with manual and automated check-ins, and one key result of tenant B.

Error pages roll back the request's unit of work, which in these tests is the test's own session:
a test that expects a 403 or 404 (or a sign-in redirect) makes that request last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from okr_core import check_ins, key_results, objectives
from okr_core.actors import Actor
from okr_core.models import CheckInSource, KeyResult, Objective
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import TenantWorld

ACTOR = Actor.system("admin UI tests")
PERIOD = "2025-Q3"  # a past quarter, so its check-ins are not in the future
EARLIER_PERIOD = "2025-Q2"


@dataclass
class Okrs:
    company: Objective
    team: Objective
    earlier: Objective
    revenue: KeyResult  # 3 check-ins, the latest at 40 of 0 -> 100
    churn: KeyResult  # no check-ins
    earlier_kr: KeyResult
    other_tenants_kr: KeyResult


def _at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 9, 30, tzinfo=UTC)


@pytest.fixture
def okrs(session: Session, tenant_a: TenantWorld, tenant_b: TenantWorld) -> Okrs:
    editor = tenant_a.users[Role.okr_editor]
    admin = tenant_a.users[Role.tenant_admin]
    with tenant_context(session, tenant_a.tenant.id):
        company = objectives.create_objective(
            session, actor=ACTOR, title="Win the mid-market", period=PERIOD, owner_id=admin.id
        )
        team = objectives.create_objective(
            session,
            actor=ACTOR,
            title="Ship <b>delightful</b> onboarding",
            period=PERIOD,
            owner_id=editor.id,
            parent_id=company.id,
        )
        revenue = key_results.create_key_result(
            session,
            actor=ACTOR,
            objective_id=company.id,
            title="Grow revenue",
            unit="kEUR",
            start_value=0,
            target_value=100,
            owner_id=editor.id,
        )
        churn = key_results.create_key_result(
            session,
            actor=ACTOR,
            objective_id=team.id,
            title="Cut churn",
            unit="%",
            start_value=4,
            target_value=2,
        )
        for when, value, source, note in (
            (_at(7, 3), 10.0, CheckInSource.manual, "First week"),
            (_at(8, 1), 25.0, CheckInSource.automated, ""),
            (_at(9, 2), 40.0, CheckInSource.manual, "Big deal slipped"),
        ):
            check_ins.record_check_in(
                session,
                actor=ACTOR,
                key_result_id=revenue.id,
                value=value,
                checked_at=when,
                author_id=editor.id if source is CheckInSource.manual else None,
                source=source,
                source_ref="jira:JQL-7" if source is CheckInSource.automated else None,
                note=note,
            )
        earlier = objectives.create_objective(
            session, actor=ACTOR, title="Hire the founding team", period=EARLIER_PERIOD
        )
        earlier_kr = key_results.create_key_result(
            session,
            actor=ACTOR,
            objective_id=earlier.id,
            title="Engineers hired",
            start_value=0,
            target_value=5,
        )
    with tenant_context(session, tenant_b.tenant.id):
        b_objective = objectives.create_objective(
            session, actor=ACTOR, title="Tenant B's secret plan", period=PERIOD
        )
        other = key_results.create_key_result(
            session,
            actor=ACTOR,
            objective_id=b_objective.id,
            title="Tenant B's secret KR",
            start_value=0,
            target_value=10,
        )
    session.flush()
    return Okrs(company, team, earlier, revenue, churn, earlier_kr, other)
