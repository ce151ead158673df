"""What every source connector offers, so callers never depend on one vendor's client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    ok: bool
    account: str  # who the credentials authenticate as (never the secret)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ExtractBatch:
    """Records of one source entity, keyed by ``id``; ``max_updated_at`` drives the watermark."""

    records: list[dict[str, Any]]
    max_updated_at: datetime | None
    requests_made: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class SourceConnector(Protocol):
    def check_connection(self) -> ConnectionCheck: ...

    def extract(
        self, *, updated_since: datetime | None, scope: dict[str, Any]
    ) -> Iterator[ExtractBatch]:
        """Records changed since ``updated_since`` (all when None), page by page.

        ``scope`` narrows what to pull (e.g. the repositories or JQL projects that bindings use).
        Raises ``TransientSourceError`` or ``PermanentSourceError``.
        """
        ...
