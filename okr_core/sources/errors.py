"""Error classes for source calls: transient ones are retried with backoff, permanent ones are
not and tell the admin what to fix. Messages never contain credentials or response bodies that
could echo them."""

from __future__ import annotations

from okr_core.models.sync_run import ErrorClass


class SourceError(Exception):
    error_class: ErrorClass = ErrorClass.transient

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientSourceError(SourceError):
    """Timeouts, connection resets, 429 and 5xx: worth retrying after ``retry_after`` seconds."""

    error_class = ErrorClass.transient

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentSourceError(SourceError):
    """401, 403, 404, an invalid query: retrying cannot help; the message says what to fix."""

    error_class = ErrorClass.permanent
