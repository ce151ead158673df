"""One error shape for every error: RFC 9457 problem details with a stable ``code``.

Domain errors (``okr_core.errors.OkrError``), request validation, unknown routes and unexpected
failures all render through here, so clients parse one shape. Unexpected errors never leak
internals: the body says only that something failed and gives a request id to quote.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from okr_core.errors import OkrError, TooManyRequests

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
}
_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


def problem(
    status: int,
    *,
    code: str,
    detail: str,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:okr-hub:error:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _okr_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OkrError)
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Cookie realm="okr-hub"'
    errors = None
    if "field" in exc.details:
        errors = [{"field": exc.details["field"], "message": exc.message}]
    if exc.status >= 500:
        logger.error("server-side domain error: %s", exc.code)
    return problem(exc.status, code=exc.code, detail=exc.message, errors=errors, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            # FastAPI puts the character offset where a field name belongs: name the body instead.
            reason = (err.get("ctx") or {}).get("error") or err.get("msg", "")
            position = err.get("loc", ("body", "?"))[-1]
            errors.append(
                {"field": "body", "message": f"not valid JSON: {reason} (character {position})"}
            )
            continue
        location = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        errors.append({"field": ".".join(location) or "body", "message": err.get("msg", "")})
    fields = ", ".join(e["field"] for e in errors)
    return problem(
        422,
        code="validation_failed",
        detail=f"the request is not valid; check {fields}",
        errors=errors,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such resource or route"
    return problem(exc.status_code, code=code, detail=detail, headers=dict(exc.headers or {}))


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    request_id = uuid.uuid4().hex
    logger.exception("unhandled error (request id %s)", request_id, exc_info=exc)
    return problem(
        500,
        code="internal_error",
        detail=f"something went wrong on our side; quote request id {request_id}",
        extra={"request_id": request_id},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OkrError, _okr_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
