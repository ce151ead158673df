"""Key results of the current tenant, and their derived progress and health."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import Conflict, ValidationFailed
from okr_core.models import Direction, KeyResult, KeyResultStatus, Objective
from okr_core.periods import Period
from okr_core.progress import Health, health, progress
from okr_core.repository import get_owned
from okr_core.users import check_owner

UPDATABLE_FIELDS = frozenset(
    {"title", "owner_id", "unit", "direction", "start_value", "target_value", "status"}
)


@dataclass(frozen=True, slots=True)
class KeyResultState:
    """Progress and health of a key result on a given day."""

    progress: float
    health: Health


def state_of(kr: KeyResult, objective: Objective, *, today: date | None = None) -> KeyResultState:
    """Derive progress and health; the only place the product computes them."""
    today = today or datetime.now(UTC).date()
    fraction = progress(
        start=kr.start_value,
        target=kr.target_value,
        current=kr.current_value,
        direction=kr.direction,
    )
    period = Period(objective.period, objective.period_start, objective.period_end)
    return KeyResultState(
        progress=fraction, health=health(fraction, period.elapsed_fraction(today))
    )


def objectives_of(session: Session, krs: Iterable[KeyResult]) -> dict[uuid.UUID, Objective]:
    """The objectives of ``krs`` keyed by id, in one query rather than one per key result."""
    ids = {kr.objective_id for kr in krs}
    if not ids:
        return {}
    rows = session.scalars(select(Objective).where(Objective.id.in_(ids))).all()
    return {objective.id: objective for objective in rows}


def states_of(
    session: Session, krs: Sequence[KeyResult], *, today: date | None = None
) -> dict[uuid.UUID, KeyResultState]:
    """:func:`state_of` for many key results at once, keyed by key result id."""
    objectives = objectives_of(session, krs)
    return {kr.id: state_of(kr, objectives[kr.objective_id], today=today) for kr in krs}


def get_key_result(session: Session, key_result_id: uuid.UUID) -> KeyResult:
    return get_owned(session, KeyResult, key_result_id, noun="key result")


def list_key_results(
    session: Session,
    *,
    objective_id: uuid.UUID | None = None,
    include_archived: bool = False,
) -> Sequence[KeyResult]:
    stmt = select(KeyResult).order_by(KeyResult.objective_id, KeyResult.title)
    if objective_id is not None:
        stmt = stmt.where(KeyResult.objective_id == objective_id)
    if not include_archived:
        stmt = stmt.where(KeyResult.status != KeyResultStatus.archived)
    return session.scalars(stmt).all()


def create_key_result(
    session: Session,
    *,
    actor: Actor,
    objective_id: uuid.UUID,
    title: str,
    start_value: float,
    target_value: float,
    unit: str = "",
    direction: Direction | None = None,
    owner_id: uuid.UUID | None = None,
    current_value: float | None = None,
) -> KeyResult:
    get_owned(session, Objective, objective_id, noun="objective")
    direction = direction or (
        Direction.increase if target_value >= start_value else Direction.decrease
    )
    _check_values(start=start_value, target=target_value, direction=direction)
    check_owner(session, owner_id)
    title = _clean_title(title)
    _check_unique(session, objective_id=objective_id, title=title, exclude=None)
    kr = KeyResult(
        objective_id=objective_id,
        title=title,
        owner_id=owner_id,
        unit=unit.strip(),
        direction=direction,
        start_value=start_value,
        target_value=target_value,
        current_value=start_value if current_value is None else current_value,
        status=KeyResultStatus.active,
    )
    session.add(kr)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="key_result.created",
        target_type="key_result",
        target_id=kr.id,
        changes=snapshot(kr),
    )
    return kr


def update_key_result(
    session: Session, *, actor: Actor, key_result_id: uuid.UUID, changes: Mapping[str, Any]
) -> KeyResult:
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(f"cannot update {', '.join(sorted(unknown))}")
    kr = get_key_result(session, key_result_id)
    before = snapshot(kr)
    # Check against stored rows, not half-applied changes: an autoflush during the checks would
    # hit the unique constraint (a 500) before the duplicate check could answer with a Conflict.
    with session.no_autoflush:
        _apply(session, kr, changes)
    session.flush()
    changed = audit.diff(before, snapshot(kr))
    if changed:
        audit.record(
            session,
            actor=actor,
            action="key_result.updated",
            target_type="key_result",
            target_id=kr.id,
            changes=changed,
        )
    return kr


def _apply(session: Session, kr: KeyResult, changes: Mapping[str, Any]) -> None:
    """Set and check each changed field; callers run this with autoflush off."""
    if "title" in changes:
        kr.title = _clean_title(changes["title"])
        _check_unique(session, objective_id=kr.objective_id, title=kr.title, exclude=kr.id)
    if "owner_id" in changes:
        check_owner(session, changes["owner_id"])
        kr.owner_id = changes["owner_id"]
    if "unit" in changes:
        kr.unit = (changes["unit"] or "").strip()
    for field in ("start_value", "target_value"):
        if field in changes:
            setattr(kr, field, float(changes[field]))
    if "direction" in changes:
        kr.direction = Direction(changes["direction"])
    if "status" in changes:
        kr.status = KeyResultStatus(changes["status"])
    _check_values(start=kr.start_value, target=kr.target_value, direction=kr.direction)


def archive_key_result(session: Session, *, actor: Actor, key_result_id: uuid.UUID) -> KeyResult:
    return update_key_result(
        session,
        actor=actor,
        key_result_id=key_result_id,
        changes={"status": KeyResultStatus.archived},
    )


def snapshot(kr: KeyResult) -> dict[str, Any]:
    return {
        "title": kr.title,
        "owner_id": kr.owner_id,
        "unit": kr.unit,
        "direction": kr.direction,
        "start_value": kr.start_value,
        "target_value": kr.target_value,
        "current_value": kr.current_value,
        "status": kr.status,
    }


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ValidationFailed("title must not be empty", details={"field": "title"})
    return title


def _check_values(*, start: float, target: float, direction: Direction) -> None:
    if start == target:
        raise ValidationFailed(
            "target_value must differ from start_value", details={"field": "target_value"}
        )
    if (direction is Direction.increase) != (target > start):
        raise ValidationFailed(
            f"direction '{direction}' needs a target_value "
            f"{'above' if direction is Direction.increase else 'below'} start_value",
            details={"field": "direction"},
        )


def _check_unique(
    session: Session, *, objective_id: uuid.UUID, title: str, exclude: uuid.UUID | None
) -> None:
    stmt = select(KeyResult.id).where(
        KeyResult.objective_id == objective_id, KeyResult.title == title
    )
    if exclude is not None:
        stmt = stmt.where(KeyResult.id != exclude)
    if session.scalars(stmt).first() is not None:
        raise Conflict(
            f"this objective already has a key result titled '{title}'",
            details={"field": "title"},
        )
