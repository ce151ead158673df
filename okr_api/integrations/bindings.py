"""/api/v1/key-results/{id}/binding: bind a key result to a source metric, preview, unbind.

One binding per key result: ``PUT`` creates or replaces it, ``DELETE`` removes it. ``POST
.../binding/preview`` runs a binding once against the source without saving anything and answers
the value and a sample of the matching records, so an editor sees what the key result would show
before saving. ``GET`` shows the binding with the lineage of the latest automated check-ins.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from okr_api.auth.dependencies import Editor, Viewer
from okr_api.database import SessionDep
from okr_api.integrations.schemas import (
    BindingPreviewRead,
    BindingRead,
    BindingWrite,
    problem_responses,
)
from okr_api.integrations.service import CipherDep, binding_read
from okr_core import kr_bindings
from okr_core.binding_preview import preview_binding
from okr_core.errors import TooManyRequests, ValidationFailed
from okr_core.sources.errors import PermanentSourceError, TransientSourceError

router = APIRouter(prefix="/key-results/{key_result_id}/binding", tags=["kr-bindings"])

KeyResultId = Annotated[uuid.UUID, Path(description="The key result's id.")]
PREVIEW_SAMPLE_SIZE = 20
DEFAULT_RETRY_AFTER_SECONDS = 30


class SourceRefused(ValidationFailed):
    """The source refused the preview for good (credentials, JQL, repository): 422; the
    connector's message says what to fix."""

    code = "source_refused"


class SourceUnavailable(TooManyRequests):
    """The source failed transiently during a preview: 503 with ``Retry-After``."""

    status = 503
    code = "source_unavailable"


@router.get("", operation_id="kr_binding_read", responses=problem_responses(401, 403, 404, 422))
def read_binding(principal: Viewer, session: SessionDep, key_result_id: KeyResultId) -> BindingRead:
    """The key result's binding (404 when it is not bound) with the lineage of its latest
    automated check-ins: which binding, which query, how many records, the record-set hash, and
    when."""
    return binding_read(session, kr_bindings.require_binding(session, key_result_id))


@router.put(
    "",
    operation_id="kr_binding_put",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def put_binding(
    principal: Editor, session: SessionDep, key_result_id: KeyResultId, body: BindingWrite
) -> BindingRead:
    """Bind the key result (or replace its binding). The integration's next sync is due at once,
    and the key result's history is backfilled from the records already landed."""
    row = kr_bindings.set_binding(
        session,
        actor=principal.actor,
        key_result_id=key_result_id,
        integration_id=body.integration_id,
        metric=body.metric,
        parameters=body.parameters,
        whole_history=body.whole_history,
        description=body.description,
    )
    return binding_read(session, row)


@router.delete(
    "",
    operation_id="kr_binding_delete",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
def delete_binding(principal: Editor, session: SessionDep, key_result_id: KeyResultId) -> Response:
    """Unbind: the key result keeps its value and history and moves by check-ins again."""
    kr_bindings.delete_binding(session, actor=principal.actor, key_result_id=key_result_id)
    return Response(status_code=204)


@router.post(
    "/preview",
    operation_id="kr_binding_preview",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def preview(
    principal: Editor,
    session: SessionDep,
    cipher: CipherDep,
    key_result_id: KeyResultId,
    body: BindingWrite,
) -> BindingPreviewRead:
    """Run the binding once against the source, without saving: the value the key result would
    show and up to 20 matching records.

    A permanent source error (bad credentials, an unknown project or repository, invalid JQL)
    answers 422 with what to fix; a transient one (rate limit, timeout, 5xx) answers 503 with
    `Retry-After`.
    """
    request = kr_bindings.validate_binding(
        session,
        key_result_id=key_result_id,
        integration_id=body.integration_id,
        metric=body.metric,
        parameters=body.parameters,
        whole_history=body.whole_history,
        description=body.description,
    )
    try:
        result = preview_binding(
            session,
            integration=request.integration,
            key_result=request.key_result,
            metric=request.metric,
            parameters=request.parameters,
            whole_history=request.whole_history,
            cipher=cipher,
            sample_size=PREVIEW_SAMPLE_SIZE,
        )
    except PermanentSourceError as exc:
        raise SourceRefused(exc.message) from None
    except TransientSourceError as exc:
        retry_after = exc.retry_after or DEFAULT_RETRY_AFTER_SECONDS
        raise SourceUnavailable(
            f"{exc.message}; try the preview again in a moment",
            retry_after_seconds=max(1, math.ceil(retry_after)),
        ) from None
    value = result.value
    return BindingPreviewRead(
        metric=request.metric,
        value=None if value is None or not math.isfinite(value) else value,
        record_count=result.record_count,
        records=list(result.records)[:PREVIEW_SAMPLE_SIZE],
        query=result.query,
    )
