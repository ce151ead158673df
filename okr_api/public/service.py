"""Reads behind the public API: filtered, keyset-paginated lists and single items, serialised
straight to JSON bytes by Pydantic (validated from plain dicts, no ``jsonable_encoder``).

Keyset pagination: rows are ordered by the sort column and then the id, and a page starts
strictly after the previous page's last (value, id). Rows inserted while a client walks the
list never shift the pages, so every row present throughout the walk is returned exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from okr_api.public.cursors import InvalidCursor, Position
from okr_api.public.schemas import CheckInRead, KeyResultRead, ObjectiveRead, Page
from okr_core.db.base import UtcDateTime
from okr_core.key_results import state_of
from okr_core.models import CheckIn, KeyResult, Objective
from okr_core.repository import get_owned
from okr_core.tenancy import require_tenant


class ObjectiveSort(StrEnum):
    by_created_at = "created_at"
    by_created_at_desc = "-created_at"
    by_updated_at = "updated_at"
    by_updated_at_desc = "-updated_at"
    by_title = "title"
    by_title_desc = "-title"
    by_period = "period"
    by_period_desc = "-period"


class KeyResultSort(StrEnum):
    by_created_at = "created_at"
    by_created_at_desc = "-created_at"
    by_updated_at = "updated_at"
    by_updated_at_desc = "-updated_at"
    by_title = "title"
    by_title_desc = "-title"


class CheckInSort(StrEnum):
    by_checked_at = "checked_at"
    by_checked_at_desc = "-checked_at"
    by_created_at = "created_at"
    by_created_at_desc = "-created_at"


@dataclass(frozen=True, slots=True)
class ListRequest:
    """A validated list request: filters as SQL conditions, a whitelisted sort, a position."""

    conditions: Sequence[Any]
    sort: str
    limit: int
    after: Position | None


@dataclass(frozen=True, slots=True)
class PageResult:
    body_items: list[dict[str, Any]]
    has_more: bool
    last: Position | None


def _sort_column(model: type[Any], sort: str) -> tuple[InstrumentedAttribute[Any], bool]:
    descending = sort.startswith("-")
    column: InstrumentedAttribute[Any] = getattr(model, sort.lstrip("-"))
    return column, descending


def _position_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def _parse_position_value(column: InstrumentedAttribute[Any], text: str) -> Any:
    if isinstance(column.type, UtcDateTime):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise InvalidCursor(
                "the cursor is not valid; use the next_cursor value of a page unchanged",
                details={"field": "cursor"},
            ) from None
    return text


def _keyset(
    stmt: Any, model: type[Any], request: ListRequest
) -> tuple[Select[Any], InstrumentedAttribute[Any]]:
    column, descending = _sort_column(model, request.sort)
    row_id = model.id
    if request.after is not None:
        value = _parse_position_value(column, request.after.value)
        if descending:
            after = or_(column < value, and_(column == value, row_id < request.after.row_id))
        else:
            after = or_(column > value, and_(column == value, row_id > request.after.row_id))
        stmt = stmt.where(after)
    if descending:
        stmt = stmt.order_by(column.desc(), row_id.desc())
    else:
        stmt = stmt.order_by(column.asc(), row_id.asc())
    return stmt.where(*request.conditions).limit(request.limit + 1), column


def _page(
    rows: Sequence[Any], request: ListRequest, column_name: str
) -> tuple[list[Any], bool, Position | None]:
    has_more = len(rows) > request.limit
    rows = list(rows[: request.limit])
    last = None
    if has_more and rows:
        tail = rows[-1]
        last = Position(value=_position_value(getattr(tail, column_name)), row_id=tail.id)
    return rows, has_more, last


# -- objectives ------------------------------------------------------------------------------
def objective_item(o: Objective) -> dict[str, Any]:
    return {
        "id": o.id,
        "title": o.title,
        "description": o.description,
        "owner_id": o.owner_id,
        "period": o.period,
        "period_start": o.period_start,
        "period_end": o.period_end,
        "parent_id": o.parent_id,
        "status": o.status.value,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
    }


def objectives_page(session: Session, request: ListRequest) -> PageResult:
    require_tenant(session)
    stmt, column = _keyset(select(Objective), Objective, request)
    rows, has_more, last = _page(session.scalars(stmt).all(), request, column.key)
    return PageResult([objective_item(o) for o in rows], has_more, last)


def objective(session: Session, objective_id: uuid.UUID) -> dict[str, Any]:
    return objective_item(get_owned(session, Objective, objective_id, noun="objective"))


# -- key results -----------------------------------------------------------------------------
def key_result_item(kr: KeyResult, parent: Objective, today: date) -> dict[str, Any]:
    state = state_of(kr, parent, today=today)
    return {
        "id": kr.id,
        "objective_id": kr.objective_id,
        "title": kr.title,
        "owner_id": kr.owner_id,
        "unit": kr.unit,
        "direction": kr.direction.value,
        "start_value": kr.start_value,
        "target_value": kr.target_value,
        "current_value": kr.current_value,
        "status": kr.status.value,
        "progress": round(state.progress, 4),
        "health": state.health.value,
        "created_at": kr.created_at,
        "updated_at": kr.updated_at,
    }


def key_results_page(session: Session, request: ListRequest) -> PageResult:
    require_tenant(session)
    base = select(KeyResult, Objective).join(Objective, Objective.id == KeyResult.objective_id)
    stmt, column = _keyset(base, KeyResult, request)
    pairs = [(row[0], row[1]) for row in session.execute(stmt).all()]
    has_more = len(pairs) > request.limit
    pairs = pairs[: request.limit]
    today = datetime.now(UTC).date()
    items = [key_result_item(kr, parent, today) for kr, parent in pairs]
    last = None
    if has_more and pairs:
        tail = pairs[-1][0]
        last = Position(value=_position_value(getattr(tail, column.key)), row_id=tail.id)
    return PageResult(items, has_more, last)


def key_result(session: Session, key_result_id: uuid.UUID) -> dict[str, Any]:
    kr = get_owned(session, KeyResult, key_result_id, noun="key result")
    parent = get_owned(session, Objective, kr.objective_id, noun="objective")
    return key_result_item(kr, parent, datetime.now(UTC).date())


# -- check-ins -------------------------------------------------------------------------------
def check_in_item(c: CheckIn) -> dict[str, Any]:
    return {
        "id": c.id,
        "key_result_id": c.key_result_id,
        "value": c.value,
        "checked_at": c.checked_at,
        "source": c.source.value,
        "source_ref": c.source_ref,
        "note": c.note,
        "author_id": c.author_id,
        "created_at": c.created_at,
    }


def check_ins_page(session: Session, key_result_id: uuid.UUID, request: ListRequest) -> PageResult:
    require_tenant(session)
    get_owned(session, KeyResult, key_result_id, noun="key result")
    base = select(CheckIn).where(
        CheckIn.key_result_id == key_result_id, CheckIn.archived_at.is_(None)
    )
    stmt, column = _keyset(base, CheckIn, request)
    rows, has_more, last = _page(session.scalars(stmt).all(), request, column.key)
    return PageResult([check_in_item(c) for c in rows], has_more, last)


# -- serialisation ---------------------------------------------------------------------------
OBJECTIVE_PAGE = Page[ObjectiveRead]
KEY_RESULT_PAGE = Page[KeyResultRead]
CHECK_IN_PAGE = Page[CheckInRead]


def page_json(
    page_type: type[Page[Any]], items: list[dict[str, Any]], *, has_more: bool, cursor: str | None
) -> bytes:
    """Validate the page from plain dicts and serialise it in Pydantic's core (fast path)."""
    page = page_type.model_validate({"data": items, "has_more": has_more, "next_cursor": cursor})
    return page.__pydantic_serializer__.to_json(page)


def item_json(model: type[Any], item: dict[str, Any]) -> bytes:
    instance = model.model_validate(item)
    data: bytes = instance.__pydantic_serializer__.to_json(instance)
    return data
