"""The one error base of the product: every expected failure has a status and a code.

Faces render these (JSON problem bodies in the API, one line in the CLI); they are never 500s.
Messages must never contain secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OkrError(Exception):
    """Base class: ``status`` is an HTTP-like status, ``code`` a stable machine-readable code."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class ValidationFailed(OkrError):
    status = 422
    code = "validation_failed"


class NotFound(OkrError):
    status = 404
    code = "not_found"


class Conflict(OkrError):
    status = 409
    code = "conflict"


class NotAuthenticated(OkrError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(OkrError):
    status = 403
    code = "permission_denied"


class TooManyRequests(OkrError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class MissingTenantContext(OkrError):
    """A tenant-owned query ran without a tenant: a programming error, surfaced loudly."""

    status = 500
    code = "missing_tenant_context"
