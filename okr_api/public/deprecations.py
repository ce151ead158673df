"""Deprecated parts of the v1 contract: one registry feeds the response headers (RFC 9745
``Deprecation``, RFC 8594 ``Sunset``, a ``Link`` to the migration notes), the OpenAPI spec
(``deprecated: true``) and the human page at ``/api/v1/docs/deprecations``.

Policy (docs/api-versioning.md): a deprecated part keeps working for at least 12 months after
its deprecation date; the Sunset date is never earlier than that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

DEPRECATIONS_PAGE = "/api/v1/docs/deprecations"


@dataclass(frozen=True, slots=True)
class Deprecation:
    anchor: str
    operation_id: str
    parameter: str | None  # None: the whole operation is deprecated
    replacement: str
    deprecated_at: datetime
    sunset_at: datetime
    notes: str

    def headers(self, base_url: str) -> list[tuple[str, str]]:
        link = f"{base_url.rstrip('/')}{DEPRECATIONS_PAGE}#{self.anchor}"
        return [
            ("Deprecation", f"@{int(self.deprecated_at.timestamp())}"),
            ("Sunset", format_datetime(self.sunset_at, usegmt=True)),
            ("Link", f'<{link}>; rel="deprecation"; type="text/html"'),
        ]


DEPRECATIONS: tuple[Deprecation, ...] = (
    Deprecation(
        anchor="key-results-objective-id",
        operation_id="key_results_list",
        parameter="objective_id",
        replacement="objective",
        deprecated_at=datetime(2026, 11, 1, tzinfo=UTC),
        sunset_at=datetime(2027, 11, 30, 23, 59, 59, tzinfo=UTC),
        notes="The filter was renamed to match the other filters, which name the related "
        "resource without an _id suffix (owner, parent). Send objective=<id> instead of "
        "objective_id=<id>; the values and results are identical.",
    ),
)


def for_parameter(operation_id: str, parameter: str) -> Deprecation | None:
    for deprecation in DEPRECATIONS:
        if deprecation.operation_id == operation_id and deprecation.parameter == parameter:
            return deprecation
    return None
