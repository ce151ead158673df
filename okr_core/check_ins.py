"""Check-ins: a key result's history. The KR's current value follows its latest check-in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import ValidationFailed
from okr_core.key_results import get_key_result
from okr_core.models import CheckIn, CheckInSource, KeyResult
from okr_core.repository import get_owned

UPDATABLE_FIELDS = frozenset({"value", "note", "checked_at"})


def list_check_ins(
    session: Session, *, key_result_id: uuid.UUID, include_archived: bool = False
) -> Sequence[CheckIn]:
    get_key_result(session, key_result_id)
    stmt = (
        select(CheckIn)
        .where(CheckIn.key_result_id == key_result_id)
        .order_by(CheckIn.checked_at, CheckIn.created_at)
    )
    if not include_archived:
        stmt = stmt.where(CheckIn.archived_at.is_(None))
    return session.scalars(stmt).all()


def get_check_in(session: Session, check_in_id: uuid.UUID) -> CheckIn:
    return get_owned(session, CheckIn, check_in_id, noun="check-in")


def record_check_in(
    session: Session,
    *,
    actor: Actor,
    key_result_id: uuid.UUID,
    value: float,
    checked_at: datetime | None = None,
    author_id: uuid.UUID | None = None,
    source: CheckInSource = CheckInSource.manual,
    source_ref: str | None = None,
    note: str = "",
) -> CheckIn:
    kr = get_key_result(session, key_result_id)
    checked_at = checked_at or datetime.now(UTC)
    _check_not_future(checked_at)
    check_in = CheckIn(
        key_result_id=kr.id,
        value=float(value),
        checked_at=checked_at,
        author_id=author_id,
        source=source,
        source_ref=source_ref,
        note=note,
    )
    session.add(check_in)
    session.flush()
    _refresh_current_value(session, kr)
    audit.record(
        session,
        actor=actor,
        action="check_in.created",
        target_type="key_result",
        target_id=kr.id,
        changes={"value": check_in.value, "source": source, "checked_at": checked_at},
    )
    return check_in


def update_check_in(
    session: Session, *, actor: Actor, check_in_id: uuid.UUID, changes: Mapping[str, Any]
) -> CheckIn:
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(f"cannot update {', '.join(sorted(unknown))}")
    check_in = get_check_in(session, check_in_id)
    if check_in.source is CheckInSource.automated:
        raise ValidationFailed(
            "automated check-ins come from a source sync and cannot be edited; "
            "record a manual check-in instead"
        )
    before = _snapshot(check_in)
    if "value" in changes:
        check_in.value = float(changes["value"])
    if "note" in changes:
        check_in.note = changes["note"] or ""
    if "checked_at" in changes:
        _check_not_future(changes["checked_at"])
        check_in.checked_at = changes["checked_at"]
    session.flush()
    _refresh_current_value(session, get_key_result(session, check_in.key_result_id))
    changed = audit.diff(before, _snapshot(check_in))
    if changed:
        audit.record(
            session,
            actor=actor,
            action="check_in.updated",
            target_type="check_in",
            target_id=check_in.id,
            changes=changed,
        )
    return check_in


def archive_check_in(session: Session, *, actor: Actor, check_in_id: uuid.UUID) -> CheckIn:
    check_in = get_check_in(session, check_in_id)
    if check_in.archived_at is None:
        check_in.archived_at = datetime.now(UTC)
        session.flush()
        _refresh_current_value(session, get_key_result(session, check_in.key_result_id))
        audit.record(
            session,
            actor=actor,
            action="check_in.archived",
            target_type="check_in",
            target_id=check_in.id,
        )
    return check_in


def _snapshot(check_in: CheckIn) -> dict[str, Any]:
    return {"value": check_in.value, "note": check_in.note, "checked_at": check_in.checked_at}


def _check_not_future(checked_at: datetime) -> None:
    if checked_at.tzinfo is None:
        raise ValidationFailed(
            "checked_at needs a time zone offset", details={"field": "checked_at"}
        )
    if checked_at > datetime.now(UTC):
        raise ValidationFailed(
            "checked_at must not be in the future", details={"field": "checked_at"}
        )


def _refresh_current_value(session: Session, kr: KeyResult) -> None:
    latest = session.scalars(
        select(CheckIn.value)
        .where(CheckIn.key_result_id == kr.id, CheckIn.archived_at.is_(None))
        .order_by(CheckIn.checked_at.desc(), CheckIn.created_at.desc())
        .limit(1)
    ).first()
    kr.current_value = kr.start_value if latest is None else latest
