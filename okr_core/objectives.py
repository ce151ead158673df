"""Objectives of the current tenant: create, read, update, archive."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import Conflict, ValidationFailed
from okr_core.models import Objective, ObjectiveStatus
from okr_core.periods import parse_period
from okr_core.repository import get_owned
from okr_core.users import check_owner

UPDATABLE_FIELDS = frozenset({"title", "description", "owner_id", "period", "parent_id", "status"})


def get_objective(session: Session, objective_id: uuid.UUID) -> Objective:
    return get_owned(session, Objective, objective_id, noun="objective")


def list_objectives(
    session: Session,
    *,
    period: str | None = None,
    status: ObjectiveStatus | None = None,
    owner_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    include_archived: bool = False,
) -> Sequence[Objective]:
    """The tenant's objectives, newest period first; archived ones only when asked for.

    An explicit ``status`` wins over ``include_archived``: asking for archived objectives by
    status returns them without also having to set the flag.
    """
    stmt = select(Objective).order_by(Objective.period.desc(), Objective.title)
    if period:
        stmt = stmt.where(Objective.period == parse_period(period).name)
    if owner_id is not None:
        stmt = stmt.where(Objective.owner_id == owner_id)
    if parent_id is not None:
        stmt = stmt.where(Objective.parent_id == parent_id)
    if status is not None:
        stmt = stmt.where(Objective.status == status)
    elif not include_archived:
        stmt = stmt.where(Objective.status != ObjectiveStatus.archived)
    return session.scalars(stmt).all()


def create_objective(
    session: Session,
    *,
    actor: Actor,
    title: str,
    period: str,
    description: str = "",
    owner_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
) -> Objective:
    parsed = parse_period(period)
    title = _clean_title(title)
    check_owner(session, owner_id)
    if parent_id is not None:
        _check_parent(session, parent_id=parent_id, child_id=None)
    _check_unique_title(session, title=title, period=parsed.name, exclude=None)
    objective = Objective(
        title=title,
        description=description,
        owner_id=owner_id,
        period=parsed.name,
        period_start=parsed.start,
        period_end=parsed.end,
        parent_id=parent_id,
        status=ObjectiveStatus.active,
    )
    session.add(objective)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="objective.created",
        target_type="objective",
        target_id=objective.id,
        changes=snapshot(objective),
    )
    return objective


def update_objective(
    session: Session, *, actor: Actor, objective_id: uuid.UUID, changes: Mapping[str, Any]
) -> Objective:
    """Apply a partial update; only the fields present in ``changes`` are touched."""
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(f"cannot update {', '.join(sorted(unknown))}")
    objective = get_objective(session, objective_id)
    before = snapshot(objective)
    # Check against stored rows, not half-applied changes: an autoflush during the checks would
    # hit the unique constraint (a 500) before the duplicate check could answer with a Conflict.
    with session.no_autoflush:
        _apply(session, objective, changes)
    session.flush()
    changed = audit.diff(before, snapshot(objective))
    if changed:
        audit.record(
            session,
            actor=actor,
            action="objective.updated",
            target_type="objective",
            target_id=objective.id,
            changes=changed,
        )
    return objective


def _apply(session: Session, objective: Objective, changes: Mapping[str, Any]) -> None:
    """Set and check each changed field; callers run this with autoflush off."""
    if "title" in changes:
        objective.title = _clean_title(changes["title"])
    if "description" in changes:
        objective.description = changes["description"] or ""
    if "owner_id" in changes:
        check_owner(session, changes["owner_id"])
        objective.owner_id = changes["owner_id"]
    if "period" in changes:
        parsed = parse_period(changes["period"])
        objective.period, objective.period_start, objective.period_end = (
            parsed.name,
            parsed.start,
            parsed.end,
        )
    if "parent_id" in changes:
        if changes["parent_id"] is not None:
            _check_parent(session, parent_id=changes["parent_id"], child_id=objective.id)
        objective.parent_id = changes["parent_id"]
    if "status" in changes:
        objective.status = ObjectiveStatus(changes["status"])
    if {"title", "period"} & set(changes):
        _check_unique_title(
            session, title=objective.title, period=objective.period, exclude=objective.id
        )


def archive_objective(session: Session, *, actor: Actor, objective_id: uuid.UUID) -> Objective:
    return update_objective(
        session,
        actor=actor,
        objective_id=objective_id,
        changes={"status": ObjectiveStatus.archived},
    )


def snapshot(objective: Objective) -> dict[str, Any]:
    return {
        "title": objective.title,
        "description": objective.description,
        "owner_id": objective.owner_id,
        "period": objective.period,
        "parent_id": objective.parent_id,
        "status": objective.status,
    }


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ValidationFailed("title must not be empty", details={"field": "title"})
    return title


def _check_parent(session: Session, *, parent_id: uuid.UUID, child_id: uuid.UUID | None) -> None:
    """The parent must be this tenant's, and alignment must never form a cycle."""
    seen: set[uuid.UUID] = set()
    current: uuid.UUID | None = parent_id
    while current is not None:
        if current == child_id:
            raise ValidationFailed(
                "parent_id would make the objective its own ancestor",
                details={"field": "parent_id"},
            )
        if current in seen:
            break
        seen.add(current)
        row = session.scalars(select(Objective).where(Objective.id == current)).one_or_none()
        if row is None:
            raise ValidationFailed(
                f"parent_id {parent_id} is not an objective of this tenant",
                details={"field": "parent_id"},
            )
        current = row.parent_id


def _check_unique_title(
    session: Session, *, title: str, period: str, exclude: uuid.UUID | None
) -> None:
    stmt = select(Objective.id).where(Objective.title == title, Objective.period == period)
    if exclude is not None:
        stmt = stmt.where(Objective.id != exclude)
    if session.scalars(stmt).first() is not None:
        raise Conflict(
            f"an objective titled '{title}' already exists in {period}",
            details={"field": "title"},
        )
