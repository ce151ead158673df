"""Output and expected errors: one red line on stderr and a non-zero exit, never a traceback.

Every command's expected failures (domain errors, bad configuration, an unreachable or
unmigrated database, a busy port) are turned into :class:`CliError` text here, in one place, so
operators and scripts see the same shape whichever command failed.
"""

from __future__ import annotations

from alembic.util import CommandError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import ArgumentError, DBAPIError

from okr_core.errors import OkrError

# file=None: rich resolves sys.stdout/sys.stderr at write time, so test runners can capture them.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class CliError(Exception):
    """An expected failure of a command: ``message`` is shown as one line, then exit ``code``."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def print_error(message: str) -> None:
    """The one error line; soft-wrapped so scripts can grep it even on narrow terminals."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def expected_error_message(exc: BaseException) -> str | None:
    """The one-line text for an expected failure, or None for a bug that deserves a traceback.

    Database messages keep only the driver's first line: later lines and SQLAlchemy's rendering
    can carry statement parameters (emails, password hashes) that must not reach a terminal log.
    """
    if isinstance(exc, CliError):
        return exc.message
    if isinstance(exc, OkrError):
        return exc.message
    if isinstance(exc, ValidationError):
        return f"configuration error: {_settings_problems(exc)}"
    if isinstance(exc, ArgumentError):
        return f"configuration error: {_first_line(str(exc))}"
    if isinstance(exc, DBAPIError):
        detail = _first_line(str(exc.orig)) or type(exc.orig).__name__
        hint = ""
        if "no such table" in detail or "does not exist" in detail:
            hint = " (is the schema migrated? run `okr-hub db upgrade`)"
        return f"database error: {detail}{hint}"
    if isinstance(exc, CommandError):
        return f"migration error: {_first_line(str(exc))}"
    return None


def _settings_problems(exc: ValidationError) -> str:
    """Name the environment variable at fault; never echo the rejected value (it may be secret)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        fields = [str(part) for part in error["loc"]]
        prefix = f"OKR_{'_'.join(fields).upper()}: " if fields else ""
        problems.append(prefix + message)
    return "; ".join(problems)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
