"""/api/v1/key-results: list, create, read, update and archive key results.

Every read carries the derived ``progress`` and ``health``, computed by
``okr_core.key_results.state_of`` (never stored, never computed anywhere else). The current value
is moved by check-ins, not by PATCH.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from okr_api.auth.dependencies import Editor, Viewer
from okr_api.database import SessionDep
from okr_api.okrs.schemas import (
    KeyResultCreate,
    KeyResultRead,
    KeyResultUpdate,
    Page,
    problem_responses,
)
from okr_core import key_results
from okr_core.models import KeyResult

router = APIRouter(prefix="/key-results", tags=["key-results"])

KeyResultId = Annotated[uuid.UUID, Path(description="The key result's id.")]


def key_result_reads(session: Session, rows: Sequence[KeyResult]) -> list[KeyResultRead]:
    """Map rows to reads with their derived state, loading their objectives in one query."""
    states = key_results.states_of(session, rows)
    return [KeyResultRead.of(row, states[row.id]) for row in rows]


def key_result_read(session: Session, row: KeyResult) -> KeyResultRead:
    return key_result_reads(session, [row])[0]


@router.get("", operation_id="key_result_list", responses=problem_responses(401, 403, 422))
def list_key_results(
    principal: Viewer,
    session: SessionDep,
    objective_id: Annotated[
        uuid.UUID | None, Query(description="Only this objective's key results.")
    ] = None,
    include_archived: Annotated[
        bool, Query(description="Also list archived key results (hidden by default).")
    ] = False,
) -> Page[KeyResultRead]:
    """The organisation's key results, grouped by objective, then by title."""
    rows = key_results.list_key_results(
        session, objective_id=objective_id, include_archived=include_archived
    )
    return Page(data=key_result_reads(session, rows))


@router.post(
    "",
    operation_id="key_result_create",
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def create_key_result(
    principal: Editor, session: SessionDep, body: KeyResultCreate, response: Response
) -> KeyResultRead:
    """Add a key result to an objective (404 when the objective is not your organisation's).

    Its current value starts at ``start_value``; record check-ins to move it. A title may appear
    once per objective (409 otherwise).
    """
    row = key_results.create_key_result(
        session,
        actor=principal.actor,
        objective_id=body.objective_id,
        title=body.title,
        start_value=body.start_value,
        target_value=body.target_value,
        unit=body.unit,
        direction=body.direction,
        owner_id=body.owner_id,
    )
    response.headers["Location"] = f"/api/v1/key-results/{row.id}"
    return key_result_read(session, row)


@router.get(
    "/{key_result_id}",
    operation_id="key_result_read",
    responses=problem_responses(401, 403, 404, 422),
)
def read_key_result(
    principal: Viewer, session: SessionDep, key_result_id: KeyResultId
) -> KeyResultRead:
    """One key result, archived or not, with its progress and health today."""
    return key_result_read(session, key_results.get_key_result(session, key_result_id))


@router.patch(
    "/{key_result_id}",
    operation_id="key_result_update",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def update_key_result(
    principal: Editor, session: SessionDep, key_result_id: KeyResultId, body: KeyResultUpdate
) -> KeyResultRead:
    """Change the fields sent; omitted fields stay as they are, `null` clears the owner."""
    row = key_results.update_key_result(
        session, actor=principal.actor, key_result_id=key_result_id, changes=body.changes()
    )
    return key_result_read(session, row)


@router.post(
    "/{key_result_id}/archive",
    operation_id="key_result_archive",
    responses=problem_responses(401, 403, 404, 422),
)
def archive_key_result(
    principal: Editor, session: SessionDep, key_result_id: KeyResultId
) -> KeyResultRead:
    """Archive a key result (there is no DELETE). Idempotent: archiving twice is a no-op 200.

    Archived key results leave default lists and exports; `include_archived=true` shows them and
    `PATCH {"status": "active"}` restores one.
    """
    row = key_results.archive_key_result(
        session, actor=principal.actor, key_result_id=key_result_id
    )
    return key_result_read(session, row)
