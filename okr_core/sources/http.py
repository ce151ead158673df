"""Helpers both connectors share: Retry-After parsing, secret-free URLs, status classes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

# (connect, read) seconds: a vendor that accepts the connection but never answers is a
# transient failure after this long, not a hung worker.
DEFAULT_TIMEOUT = (5.0, 30.0)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP date."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def header(headers: Mapping[str, object] | None, name: str) -> str | None:
    """A header by case-insensitive name from any mapping of headers."""
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if str(key).lower() == lowered:
            return None if value is None else str(value)
    return None


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: fit for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def is_transient_status(status: int | None) -> bool:
    return status is not None and (status == 429 or status == 408 or status >= 500)
