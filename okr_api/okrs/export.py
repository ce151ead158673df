"""CSV export of objectives and key results, for editors and admins.

Files are opened in spreadsheets, so every text cell that a spreadsheet would read as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is prefixed with a single
quote (OWASP "CSV injection"). Numbers are written by us, never from user text, and stay numbers.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from okr_api.auth.dependencies import Editor
from okr_api.auth.principal import Principal
from okr_api.database import SessionDep
from okr_api.okrs.schemas import problem_responses
from okr_core import key_results, objectives, users
from okr_core.models import ObjectiveStatus

router = APIRouter(prefix="/export", tags=["export"])

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | float | int | None

OBJECTIVE_COLUMNS = (
    "objective_id",
    "title",
    "description",
    "owner_id",
    "owner_email",
    "period",
    "period_start",
    "period_end",
    "status",
    "parent_id",
    "created_at",
    "updated_at",
)
KEY_RESULT_COLUMNS = (
    "key_result_id",
    "objective_id",
    "objective_title",
    "period",
    "title",
    "owner_id",
    "owner_email",
    "unit",
    "direction",
    "start_value",
    "current_value",
    "target_value",
    "progress",
    "health",
    "status",
    "updated_at",
)

IncludeArchived = Annotated[
    bool, Query(description="Also export archived rows (left out by default).")
]

_CSV_RESPONSE = {
    200: {
        "description": "A CSV file with a header row, encoded as UTF-8.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **problem_responses(401, 403, 422),
}


def safe_cell(value: Cell) -> str | float | int:
    """A cell that a spreadsheet shows as text: formula-like text gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """RFC 4180 CSV (CRLF line ends, quoted where needed) with every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def csv_response(principal: Principal, *, name: str, body: str) -> Response:
    """An attachment named after the organisation, the export and today's date (UTC)."""
    filename = f"{principal.tenant_slug}-{name}-{datetime.now(UTC).date().isoformat()}.csv"
    return Response(
        content=body,
        media_type=CSV_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _owner_emails(session: Session) -> dict[uuid.UUID, str]:
    return {user.id: user.email for user in users.list_users(session)}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@router.get(
    "/objectives.csv",
    operation_id="export_objectives_csv",
    response_class=Response,
    responses=_CSV_RESPONSE,
)
def export_objectives(
    principal: Editor, session: SessionDep, include_archived: IncludeArchived = False
) -> Response:
    """One row per objective, in the order of the objective list."""
    emails = _owner_emails(session)
    rows = [
        (
            str(objective.id),
            objective.title,
            objective.description,
            _text(objective.owner_id),
            emails.get(objective.owner_id) if objective.owner_id else None,
            objective.period,
            objective.period_start.isoformat(),
            objective.period_end.isoformat(),
            objective.status.value,
            _text(objective.parent_id),
            objective.created_at.isoformat(),
            objective.updated_at.isoformat(),
        )
        for objective in objectives.list_objectives(session, include_archived=include_archived)
    ]
    return csv_response(principal, name="objectives", body=to_csv(OBJECTIVE_COLUMNS, rows))


@router.get(
    "/key-results.csv",
    operation_id="export_key_results_csv",
    response_class=Response,
    responses=_CSV_RESPONSE,
)
def export_key_results(
    principal: Editor, session: SessionDep, include_archived: IncludeArchived = False
) -> Response:
    """One row per key result with its values, progress (0 to 1) and health today.

    Without ``include_archived``, key results of archived objectives are left out too.
    """
    krs = key_results.list_key_results(session, include_archived=include_archived)
    parents = key_results.objectives_of(session, krs)
    emails = _owner_emails(session)
    rows = []
    for kr in krs:
        objective = parents[kr.objective_id]
        if objective.status is ObjectiveStatus.archived and not include_archived:
            continue
        state = key_results.state_of(kr, objective)
        rows.append(
            (
                str(kr.id),
                str(objective.id),
                objective.title,
                objective.period,
                kr.title,
                _text(kr.owner_id),
                emails.get(kr.owner_id) if kr.owner_id else None,
                kr.unit,
                kr.direction.value,
                kr.start_value,
                kr.current_value,
                kr.target_value,
                round(state.progress, 4),
                state.health.value,
                kr.status.value,
                kr.updated_at.isoformat(),
            )
        )
    return csv_response(principal, name="key-results", body=to_csv(KEY_RESULT_COLUMNS, rows))
