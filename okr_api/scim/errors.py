"""RFC 7644 error bodies for every failure under /scim/v2, and only there.

``ScimRoute`` wraps each SCIM endpoint so that library, domain, validation and unexpected
errors all render as ``{"schemas": [...Error], "status": "400", "scimType": ..., "detail": ...}``
with ``application/scim+json``. The rest of the API keeps its RFC 9457 problem details.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from scim2_models import Context, Error, SCIMException
from starlette.exceptions import HTTPException as StarletteHTTPException

from okr_api.scim.schemas import MEDIA_TYPE
from okr_core.errors import Conflict, NotAuthenticated, OkrError, ValidationFailed

logger = logging.getLogger(__name__)


class ScimResponse(JSONResponse):
    media_type = MEDIA_TYPE


def scim_error(
    status: int,
    detail: str,
    scim_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> ScimResponse:
    body = Error(status=status, scim_type=scim_type, detail=detail).model_dump(
        scim_ctx=Context.DEFAULT
    )
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = 'Bearer realm="okr-hub SCIM"'
    return ScimResponse(body, status_code=status, headers=all_headers)


def _from_validation_error(exc: ValidationError) -> ScimResponse:
    errors = Error.from_validation_errors(exc)
    first = errors[0] if errors else Error(status=400, scim_type="invalidValue")
    detail = "; ".join(e.detail or "" for e in errors[:5]) or "the request is not valid"
    return scim_error(first.status or 400, detail, first.scim_type or "invalidValue")


def render(exc: Exception) -> Response:
    """The SCIM response for any exception raised while serving a SCIM request."""
    if isinstance(exc, SCIMException):
        error = exc.to_error()
        return scim_error(error.status or exc.status, exc.detail, error.scim_type)
    if isinstance(exc, ValidationError):
        return _from_validation_error(exc)
    if isinstance(exc, RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
            parts.append(f"{where}: {err.get('msg', '')}" if where else err.get("msg", ""))
        return scim_error(400, "; ".join(parts) or "the request is not valid", "invalidValue")
    if isinstance(exc, OkrError):
        scim_type = None
        if isinstance(exc, Conflict):
            scim_type = "uniqueness"
        elif isinstance(exc, ValidationFailed):
            scim_type = "invalidValue"
        status = 400 if isinstance(exc, ValidationFailed) else exc.status
        if isinstance(exc, NotAuthenticated):
            status = 401
        return scim_error(status, exc.message, scim_type)
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return scim_error(exc.status_code, detail, headers=dict(exc.headers or {}))
    request_id = uuid.uuid4().hex
    logger.exception("unhandled SCIM error (request id %s)", request_id, exc_info=exc)
    return scim_error(500, f"something went wrong on our side; quote request id {request_id}")


class ScimRoute(APIRoute):
    """An APIRoute whose failures render as RFC 7644 errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every failure, expected or not, gets a SCIM body
                return render(exc)

        return scim_handler
