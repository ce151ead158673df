"""Webhook receivers: ``POST /webhooks/github/{integration_id}`` and ``/webhooks/jira/{id}``.

The vendor calls these, not a browser: there is no session cookie and so no CSRF check. The
signature over the raw body (GitHub ``X-Hub-Signature-256``, Jira Cloud ``X-Hub-Signature``,
both ``sha256=<hex HMAC>`` with the integration's webhook secret) is the authentication; see
``okr_core.webhook_events``. Answers, all at once and without waiting for a sync:

* ``202 {"status": "queued"}``: verified and queued; the webhook sensor starts a sync for the
  tenant within a minute;
* ``202 {"status": "duplicate"}``: a replay of a delivery id already received (GitHub
  ``X-GitHub-Delivery``, Jira ``X-Atlassian-Webhook-Identifier``); nothing more is queued, and
  a 2xx stops the vendor from retrying;
* ``202 {"status": "ignored"}``: the integration is paused; nothing is queued;
* ``401``: missing or wrong signature, nothing queued;
* ``404``: no such integration for this vendor (malformed ids too), revealing nothing more;
* ``413``: a body over 5 MB; ``422``: a verified delivery without its delivery id.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from okr_api.database import SessionDep
from okr_api.errors import problem
from okr_api.integrations.schemas import problem_responses
from okr_api.integrations.service import CipherDep
from okr_core import webhook_events
from okr_core.errors import OkrError
from okr_core.models import Source
from okr_core.webhook_events import MAX_BODY_BYTES, InvalidSignature

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class BodyTooLarge(OkrError):
    status = 413
    code = "body_too_large"


class WebhookAccepted(BaseModel):
    status: Literal["queued", "duplicate", "ignored"] = Field(
        description="queued: a sync follows within a minute; duplicate: this delivery id was "
        "already received; ignored: the integration is paused."
    )
    delivery_id: str


async def raw_body(request: Request) -> bytes:
    """The exact bytes the vendor signed, read before anything parses them (at most 5 MB)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge("the webhook body is larger than 5 MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge("the webhook body is larger than 5 MB")
        chunks.append(chunk)
    return b"".join(chunks)


RawBody = Annotated[bytes, Depends(raw_body)]


def _receive(
    source: Source,
    integration_id: str,
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    body: bytes,
) -> JSONResponse:
    try:
        receipt = webhook_events.receive(
            session,
            cipher=cipher,
            source=source,
            integration_id=integration_id,
            body=body,
            headers=dict(request.headers),
        )
    except InvalidSignature as exc:
        log.warning("rejected a %s webhook delivery with a bad signature", source.value)
        # Rendered here rather than by the global handler: a 401 here is not about cookies.
        return problem(exc.status, code=exc.code, detail=exc.message)
    accepted = WebhookAccepted(status=receipt.outcome.value, delivery_id=receipt.delivery_id)
    return JSONResponse(accepted.model_dump(), status_code=202)


@router.post(
    "/github/{integration_id}",
    name="webhook_github",
    operation_id="webhook_github",
    status_code=202,
    response_model=WebhookAccepted,
    responses=problem_responses(401, 404, 413, 422),
)
def github_webhook(
    integration_id: str,
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    body: RawBody,
) -> JSONResponse:
    """A GitHub delivery, signed with ``X-Hub-Signature-256``, deduplicated on
    ``X-GitHub-Delivery``."""
    return _receive(Source.github, integration_id, request, session, cipher, body)


@router.post(
    "/jira/{integration_id}",
    name="webhook_jira",
    operation_id="webhook_jira",
    status_code=202,
    response_model=WebhookAccepted,
    responses=problem_responses(401, 404, 413, 422),
)
def jira_webhook(
    integration_id: str,
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    body: RawBody,
) -> JSONResponse:
    """A Jira Cloud delivery, signed with ``X-Hub-Signature``, deduplicated on
    ``X-Atlassian-Webhook-Identifier``."""
    return _receive(Source.jira, integration_id, request, session, cipher, body)
