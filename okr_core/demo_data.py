"""A realistic demo quarter for tenant ``demo``: people, aligned objectives, twelve weeks of
check-ins. Deterministic, and idempotent: seeding an existing demo tenant changes nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import check_ins, key_results, objectives, tenants, users
from okr_core.actors import Actor
from okr_core.models import Direction, Tenant
from okr_core.periods import Period, period_of
from okr_core.roles import Role
from okr_core.tenancy import tenant_context

DEMO_SLUG = "demo"
DEMO_ADMIN_EMAIL = "admin@demo.example.com"

PEOPLE = [
    ("Ada Okafor", "ada.okafor@demo.example.com", Role.okr_editor),
    ("Bruno Lindqvist", "bruno.lindqvist@demo.example.com", Role.okr_editor),
    ("Chen Wei", "chen.wei@demo.example.com", Role.okr_editor),
    ("Dana Roth", "dana.roth@demo.example.com", Role.viewer),
    ("Esi Mensah", "esi.mensah@demo.example.com", Role.okr_editor),
]

# (objective title, owner index, [(kr title, unit, start, target)])
PLAN: list[tuple[str, int, list[tuple[str, str, float, float]]]] = [
    (
        "Become the default OKR tool for mid-size companies",
        -1,
        [
            ("Grow annual recurring revenue", "kEUR", 4200, 5600),
            ("Net revenue retention", "%", 104, 112),
            ("Logo churn per quarter", "%", 3.2, 1.8),
        ],
    ),
    (
        "Ship a delightful onboarding",
        0,
        [
            ("Activation within 7 days", "%", 38, 55),
            ("Median time to first check-in", "hours", 30, 8),
            ("Onboarding NPS", "pts", 21, 40),
            ("Support tickets from new workspaces", "tickets/wk", 46, 20),
        ],
    ),
    (
        "Make integrations reliable",
        1,
        [
            ("Successful syncs", "%", 97.1, 99.5),
            ("Median sync lag", "min", 42, 10),
            ("Integrations with automated KR updates", "count", 2, 4),
        ],
    ),
    (
        "Earn enterprise trust",
        2,
        [
            ("SOC 2 controls evidenced", "count", 61, 94),
            ("Enterprise deals closed", "deals", 0, 6),
            ("Security questionnaires answered within 5 days", "%", 55, 90),
            ("SSO-enabled tenants", "tenants", 3, 15),
        ],
    ),
    (
        "Build a fast, predictable delivery engine",
        1,
        [
            ("Merged pull requests per week", "PRs", 48, 70),
            ("Median hours to merge", "hours", 31, 16),
            ("Escaped defects per release", "bugs", 9, 3),
        ],
    ),
    (
        "Grow a healthy pipeline",
        4,
        [
            ("Qualified opportunities created", "opps", 0, 120),
            ("Win rate", "%", 18, 26),
            ("Average sales cycle", "days", 74, 55),
            ("Partner-sourced pipeline", "kEUR", 150, 600),
            ("Demo-to-trial conversion", "%", 31, 45),
        ],
    ),
    (
        "Keep customers happy and heard",
        3,
        [
            ("Customer satisfaction (CSAT)", "%", 86, 92),
            ("First response time", "min", 95, 30),
            ("Feature requests triaged within a week", "%", 40, 85),
        ],
    ),
    (
        "Run an efficient company",
        4,
        [
            ("Gross margin", "%", 71, 76),
            ("Cloud cost per tenant", "EUR", 19, 14),
            ("Hiring plan filled", "%", 20, 100),
        ],
    ),
]

CHECK_IN_WEEKS = 12


@dataclass(frozen=True, slots=True)
class DemoResult:
    tenant: Tenant
    admin_email: str
    admin_password: str | None  # None when the tenant already existed
    created: bool


def seed_demo(session: Session, *, admin_password: str, now: datetime | None = None) -> DemoResult:
    """Create the demo tenant with a quarter of OKRs ending around ``now``."""
    existing = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).first()
    if existing is not None:
        return DemoResult(existing, DEMO_ADMIN_EMAIL, None, created=False)
    now = now or datetime.now(UTC)
    rng = random.Random(20261126)  # noqa: S311 (deterministic demo data, not security)
    actor = Actor(type="system", id=None, label="demo seed")
    tenant = tenants.create_tenant(session, slug=DEMO_SLUG, name="Demo Corp")
    with tenant_context(session, tenant.id):
        users.create_user(
            session,
            actor=actor,
            email=DEMO_ADMIN_EMAIL,
            display_name="Demo Admin",
            password=admin_password,
            roles=[Role.tenant_admin],
        )
        people = [
            users.create_user(session, actor=actor, email=email, display_name=name, roles=[role])
            for name, email, role in PEOPLE
        ]
        period = demo_period(now)
        company_objective = None
        for title, owner_index, krs in PLAN:
            owner = people[owner_index] if owner_index >= 0 else None
            objective = objectives.create_objective(
                session,
                actor=actor,
                title=title,
                period=period.name,
                description=f"{title}. Owned by {owner.display_name if owner else 'leadership'}.",
                owner_id=owner.id if owner else None,
                parent_id=company_objective.id if company_objective else None,
            )
            company_objective = company_objective or objective
            for kr_title, unit, start, target in krs:
                kr = key_results.create_key_result(
                    session,
                    actor=actor,
                    objective_id=objective.id,
                    title=kr_title,
                    unit=unit,
                    start_value=start,
                    target_value=target,
                    direction=Direction.increase if target > start else Direction.decrease,
                    owner_id=rng.choice(people).id,
                )
                pace = rng.uniform(0.35, 1.05)  # some KRs end the quarter ahead, some behind
                for week in range(1, CHECK_IN_WEEKS + 1):
                    share = pace * week / CHECK_IN_WEEKS + rng.uniform(-0.04, 0.04)
                    value = round(start + (target - start) * max(0.0, share), 2)
                    when = datetime.combine(
                        period.start + timedelta(weeks=week - 1, days=rng.randint(0, 4)),
                        time(9, 30),
                        tzinfo=UTC,
                    )
                    check_ins.record_check_in(
                        session,
                        actor=actor,
                        key_result_id=kr.id,
                        value=value,
                        checked_at=when,
                        author_id=kr.owner_id,
                        note="Weekly check-in" if week % 4 else "Monthly review",
                    )
    return DemoResult(tenant, DEMO_ADMIN_EMAIL, admin_password, created=True)


def demo_period(now: datetime) -> Period:
    """The latest quarter whose first twelve weeks have passed, so the history is complete."""
    period = period_of(now.date())
    if (now.date() - period.start).days < CHECK_IN_WEEKS * 7:
        period = period_of(period.start - timedelta(days=1))
    return period
