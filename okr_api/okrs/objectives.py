"""/api/v1/objectives: list, create, read, update and archive the caller's tenant's objectives.

Nothing is ever deleted through the API: archiving keeps history and the audit trail intact, hides
the objective from default lists, and is undone with ``PATCH {"status": "active"}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from okr_api.auth.dependencies import Editor, Viewer
from okr_api.database import SessionDep
from okr_api.okrs.schemas import (
    PERIOD_PATTERN,
    ObjectiveCreate,
    ObjectiveRead,
    ObjectiveUpdate,
    Page,
    problem_responses,
)
from okr_core import objectives
from okr_core.models import ObjectiveStatus

router = APIRouter(prefix="/objectives", tags=["objectives"])

ObjectiveId = Annotated[uuid.UUID, Path(description="The objective's id.")]


@router.get(
    "",
    operation_id="objective_list",
    responses=problem_responses(401, 403, 422),
)
def list_objectives(
    principal: Viewer,
    session: SessionDep,
    period: Annotated[
        str | None, Query(pattern=PERIOD_PATTERN, description="Only this quarter, e.g. 2026-Q4.")
    ] = None,
    status: Annotated[
        ObjectiveStatus | None,
        Query(description="Only this status; `archived` returns archived ones without the flag."),
    ] = None,
    owner_id: Annotated[uuid.UUID | None, Query(description="Only this owner's.")] = None,
    parent_id: Annotated[
        uuid.UUID | None, Query(description="Only those aligned to this objective.")
    ] = None,
    include_archived: Annotated[
        bool, Query(description="Also list archived objectives (hidden by default).")
    ] = False,
) -> Page[ObjectiveRead]:
    """The organisation's objectives, newest period first, then by title."""
    rows = objectives.list_objectives(
        session,
        period=period,
        status=status,
        owner_id=owner_id,
        parent_id=parent_id,
        include_archived=include_archived,
    )
    return Page(data=[ObjectiveRead.model_validate(row) for row in rows])


@router.post(
    "",
    operation_id="objective_create",
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
)
def create_objective(
    principal: Editor, session: SessionDep, body: ObjectiveCreate, response: Response
) -> ObjectiveRead:
    """Create an objective. A title may appear once per period (409 otherwise)."""
    row = objectives.create_objective(
        session,
        actor=principal.actor,
        title=body.title,
        period=body.period,
        description=body.description,
        owner_id=body.owner_id,
        parent_id=body.parent_id,
    )
    response.headers["Location"] = f"/api/v1/objectives/{row.id}"
    return ObjectiveRead.model_validate(row)


@router.get(
    "/{objective_id}",
    operation_id="objective_read",
    responses=problem_responses(401, 403, 404, 422),
)
def read_objective(
    principal: Viewer, session: SessionDep, objective_id: ObjectiveId
) -> ObjectiveRead:
    """One objective, archived or not."""
    return ObjectiveRead.model_validate(objectives.get_objective(session, objective_id))


@router.patch(
    "/{objective_id}",
    operation_id="objective_update",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def update_objective(
    principal: Editor, session: SessionDep, objective_id: ObjectiveId, body: ObjectiveUpdate
) -> ObjectiveRead:
    """Change the fields sent; omitted fields stay as they are, `null` clears owner or parent."""
    row = objectives.update_objective(
        session, actor=principal.actor, objective_id=objective_id, changes=body.changes()
    )
    return ObjectiveRead.model_validate(row)


@router.post(
    "/{objective_id}/archive",
    operation_id="objective_archive",
    responses=problem_responses(401, 403, 404, 422),
)
def archive_objective(
    principal: Editor, session: SessionDep, objective_id: ObjectiveId
) -> ObjectiveRead:
    """Archive an objective (there is no DELETE). Idempotent: archiving twice is a no-op 200.

    Archived objectives leave default lists and exports; `include_archived=true` shows them and
    `PATCH {"status": "active"}` restores one. Its key results are left as they are.
    """
    row = objectives.archive_objective(session, actor=principal.actor, objective_id=objective_id)
    return ObjectiveRead.model_validate(row)
