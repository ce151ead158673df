"""What the admin pages show, read through okr_core services and shaped for templates.

Templates receive these frozen view objects, never ORM rows: the session closes before the page
renders, and a template cannot trigger a lazy load (or a query outside the tenant scope).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from okr_api.admin.chart import LineChart, Sample, build_line_chart
from okr_api.admin.formatting import number, quantity
from okr_core import audit, check_ins, key_results, objectives, users
from okr_core.errors import NotFound
from okr_core.models import CheckInSource, Direction, KeyResult, Objective
from okr_core.periods import period_of
from okr_core.progress import Health

HEALTH_ORDER = (Health.off_track, Health.at_risk, Health.on_track, Health.done)


@dataclass(frozen=True, slots=True)
class KeyResultView:
    id: uuid.UUID
    title: str
    owner_name: str | None
    unit: str
    direction: Direction
    start: str
    target: str
    current: str
    current_number: str  # without the unit, for big figures that set the unit smaller
    target_number: str
    progress_percent: int
    health: Health


@dataclass(frozen=True, slots=True)
class ObjectiveLink:
    id: uuid.UUID
    title: str
    period: str


@dataclass(frozen=True, slots=True)
class ObjectiveView:
    id: uuid.UUID
    title: str
    description: str
    owner_name: str | None
    period: str
    parent: ObjectiveLink | None
    depth: int  # 0 for objectives aligned to nothing shown on the page, 1 for their children...
    key_results: tuple[KeyResultView, ...]

    @property
    def health_counts(self) -> list[tuple[Health, int]]:
        counts = Counter(kr.health for kr in self.key_results)
        return [(h, counts[h]) for h in HEALTH_ORDER if counts[h]]


@dataclass(frozen=True, slots=True)
class ObjectivesOverview:
    periods: tuple[str, ...]  # newest first
    period: str | None
    objectives: tuple[ObjectiveView, ...]

    @property
    def key_result_count(self) -> int:
        return sum(len(o.key_results) for o in self.objectives)

    @property
    def health_totals(self) -> list[tuple[Health, int]]:
        counts = Counter(kr.health for o in self.objectives for kr in o.key_results)
        return [(h, counts[h]) for h in HEALTH_ORDER]


@dataclass(frozen=True, slots=True)
class CheckInView:
    value: str
    at: datetime
    author_name: str | None
    source: CheckInSource
    source_ref: str | None
    note: str


@dataclass(frozen=True, slots=True)
class KeyResultDetail:
    key_result: KeyResultView
    objective: ObjectiveLink
    period_start: date
    period_end: date
    chart: LineChart | None
    check_ins: tuple[CheckInView, ...]  # newest first, as people scan a log


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    actor_label: str
    actor_type: str
    action: str
    target_type: str
    target_id: str | None
    changed_fields: tuple[str, ...]
    changes_json: str


def objectives_overview(
    session: Session, *, period: str | None, today: date | None = None
) -> ObjectivesOverview:
    """The tenant's objectives of one period with their key results' progress and health.

    ``period`` is honoured when the tenant has objectives in it; otherwise the page opens on the
    current quarter, or the latest one before it, so a stale bookmark still shows something.
    """
    all_objectives = objectives.list_objectives(session)
    periods = tuple(sorted({o.period for o in all_objectives}, reverse=True))
    chosen = period if period in periods else default_period(periods, today=today)
    shown = [o for o in all_objectives if o.period == chosen]
    names = owner_names(session)
    titles = {o.id: o for o in all_objectives}
    krs_by_objective: dict[uuid.UUID, list[KeyResult]] = {}
    for kr in key_results.list_key_results(session):
        krs_by_objective.setdefault(kr.objective_id, []).append(kr)

    views = []
    for objective, depth in aligned_order(shown):
        parent = titles.get(objective.parent_id) if objective.parent_id else None
        views.append(
            ObjectiveView(
                id=objective.id,
                title=objective.title,
                description=objective.description,
                owner_name=names.get(objective.owner_id) if objective.owner_id else None,
                period=objective.period,
                parent=ObjectiveLink(parent.id, parent.title, parent.period) if parent else None,
                depth=depth,
                key_results=tuple(
                    key_result_view(kr, objective, names, today=today)
                    for kr in krs_by_objective.get(objective.id, [])
                ),
            )
        )
    return ObjectivesOverview(periods=periods, period=chosen, objectives=tuple(views))


def key_result_detail(
    session: Session, key_result_id: uuid.UUID, *, today: date | None = None
) -> KeyResultDetail:
    """One key result with its history; another tenant's id is NotFound like a missing one."""
    kr = key_results.get_key_result(session, key_result_id)
    objective = objectives.get_objective(session, kr.objective_id)
    names = owner_names(session)
    history = check_ins.list_check_ins(session, key_result_id=kr.id)

    def fmt(value: float) -> str:
        return quantity(value, kr.unit)

    chart = None
    if history:
        chart = build_line_chart(
            [Sample(c.checked_at, c.value) for c in history],
            start_value=kr.start_value,
            target_value=kr.target_value,
            period_start=objective.period_start,
            period_end=objective.period_end,
            format_value=fmt,
            format_tick=number,
        )
    return KeyResultDetail(
        key_result=key_result_view(kr, objective, names, today=today),
        objective=ObjectiveLink(objective.id, objective.title, objective.period),
        period_start=objective.period_start,
        period_end=objective.period_end,
        chart=chart,
        check_ins=tuple(
            CheckInView(
                value=fmt(c.value),
                at=c.checked_at,
                author_name=names.get(c.author_id) if c.author_id else None,
                source=c.source,
                source_ref=c.source_ref,
                note=c.note,
            )
            for c in reversed(history)
        ),
    )


def audit_rows(session: Session, *, limit: int = 100) -> list[AuditRow]:
    return [
        AuditRow(
            at=event.occurred_at,
            actor_label=event.actor_label,
            actor_type=event.actor_type,
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            changed_fields=tuple(sorted(event.changes)),
            changes_json=json.dumps(event.changes, indent=2, sort_keys=True, default=str),
        )
        for event in audit.recent(session, limit=limit)
    ]


def key_result_view(
    kr: KeyResult,
    objective: Objective,
    names: Mapping[uuid.UUID, str],
    *,
    today: date | None = None,
) -> KeyResultView:
    state = key_results.state_of(kr, objective, today=today)
    return KeyResultView(
        id=kr.id,
        title=kr.title,
        owner_name=names.get(kr.owner_id) if kr.owner_id else None,
        unit=kr.unit,
        direction=kr.direction,
        start=quantity(kr.start_value, kr.unit),
        target=quantity(kr.target_value, kr.unit),
        current=quantity(kr.current_value, kr.unit),
        current_number=number(kr.current_value),
        target_number=number(kr.target_value),
        progress_percent=round(state.progress * 100),
        health=state.health,
    )


def owner_names(session: Session) -> dict[uuid.UUID, str]:
    return {u.id: u.display_name for u in users.list_users(session)}


def default_period(periods: Sequence[str], *, today: date | None = None) -> str | None:
    """The current quarter if it has objectives, else the latest earlier one, else the newest."""
    if not periods:
        return None
    current = period_of(today or date.today()).name
    earlier = [p for p in periods if p <= current]  # "2026-Q3" names sort chronologically
    return max(earlier) if earlier else max(periods)


def aligned_order(items: Iterable[Objective]) -> list[tuple[Objective, int]]:
    """Parents before the objectives aligned to them, each level by title, with its depth."""
    rows = sorted(items, key=lambda o: o.title.casefold())
    ids = {o.id for o in rows}
    children: dict[uuid.UUID | None, list[Objective]] = {}
    for o in rows:
        children.setdefault(o.parent_id if o.parent_id in ids else None, []).append(o)
    ordered: list[tuple[Objective, int]] = []
    seen: set[uuid.UUID] = set()

    def walk(parent: uuid.UUID | None, depth: int) -> None:
        for o in children.get(parent, []):
            if o.id not in seen:
                seen.add(o.id)
                ordered.append((o, depth))
                walk(o.id, depth + 1)

    walk(None, 0)
    ordered.extend((o, 0) for o in rows if o.id not in seen)  # cycles cannot exist; be safe
    return ordered


def parse_id(raw: str, *, noun: str) -> uuid.UUID:
    """A path id that is not a UUID names nothing: NotFound, the same as an unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"{noun} {raw} was not found", details={"resource": noun}) from None
