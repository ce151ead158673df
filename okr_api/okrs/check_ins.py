"""/api/v1 check-ins: a key result's history of values.

A key result's current value is always the value of its latest non-archived check-in (by
``checked_at``), so recording, editing or archiving a check-in moves it. Check-ins from a source
sync (``source: automated``) cannot be edited here.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from okr_api.auth.dependencies import Editor, Viewer
from okr_api.database import SessionDep
from okr_api.okrs.schemas import (
    CheckInCreate,
    CheckInRead,
    CheckInUpdate,
    Page,
    problem_responses,
)
from okr_core import check_ins

router = APIRouter(tags=["check-ins"])

KeyResultId = Annotated[uuid.UUID, Path(description="The key result's id.")]
CheckInId = Annotated[uuid.UUID, Path(description="The check-in's id.")]


@router.get(
    "/key-results/{key_result_id}/check-ins",
    operation_id="check_in_list",
    responses=problem_responses(401, 403, 404, 422),
)
def list_check_ins(
    principal: Viewer,
    session: SessionDep,
    key_result_id: KeyResultId,
    include_archived: Annotated[
        bool, Query(description="Also list archived check-ins (hidden by default).")
    ] = False,
) -> Page[CheckInRead]:
    """A key result's check-ins, oldest first."""
    rows = check_ins.list_check_ins(
        session, key_result_id=key_result_id, include_archived=include_archived
    )
    return Page(data=[CheckInRead.of(row) for row in rows])


@router.post(
    "/key-results/{key_result_id}/check-ins",
    operation_id="check_in_create",
    status_code=201,
    responses=problem_responses(401, 403, 404, 422),
)
def create_check_in(
    principal: Editor,
    session: SessionDep,
    key_result_id: KeyResultId,
    body: CheckInCreate,
    response: Response,
) -> CheckInRead:
    """Record a manual check-in by the caller; the key result's current value follows it."""
    row = check_ins.record_check_in(
        session,
        actor=principal.actor,
        key_result_id=key_result_id,
        value=body.value,
        checked_at=body.checked_at,
        author_id=principal.user_id,
        note=body.note,
    )
    response.headers["Location"] = f"/api/v1/check-ins/{row.id}"
    return CheckInRead.of(row)


@router.get(
    "/check-ins/{check_in_id}",
    operation_id="check_in_read",
    responses=problem_responses(401, 403, 404, 422),
)
def read_check_in(principal: Viewer, session: SessionDep, check_in_id: CheckInId) -> CheckInRead:
    """One check-in, archived or not."""
    return CheckInRead.of(check_ins.get_check_in(session, check_in_id))


@router.patch(
    "/check-ins/{check_in_id}",
    operation_id="check_in_update",
    responses=problem_responses(401, 403, 404, 422),
)
def update_check_in(
    principal: Editor, session: SessionDep, check_in_id: CheckInId, body: CheckInUpdate
) -> CheckInRead:
    """Correct a manual check-in's value, note or time; omitted fields stay as they are."""
    row = check_ins.update_check_in(
        session, actor=principal.actor, check_in_id=check_in_id, changes=body.changes()
    )
    return CheckInRead.of(row)


@router.post(
    "/check-ins/{check_in_id}/archive",
    operation_id="check_in_archive",
    responses=problem_responses(401, 403, 404, 422),
)
def archive_check_in(principal: Editor, session: SessionDep, check_in_id: CheckInId) -> CheckInRead:
    """Archive a check-in (there is no DELETE); it stays on record but stops counting.

    Idempotent. The key result's current value falls back to the latest remaining check-in, or
    to its start value when none remain.
    """
    return CheckInRead.of(
        check_ins.archive_check_in(session, actor=principal.actor, check_in_id=check_in_id)
    )
