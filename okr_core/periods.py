"""OKR periods: quarters named like ``2026-Q4``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from okr_core.errors import ValidationFailed

_QUARTER = re.compile(r"^(?P<year>\d{4})-Q(?P<q>[1-4])$")


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: date
    end: date  # inclusive

    def elapsed_fraction(self, today: date) -> float:
        """How much of the period has passed on ``today``, from 0.0 to 1.0."""
        total = (self.end - self.start).days + 1
        done = (today - self.start).days + 1
        return min(1.0, max(0.0, done / total))


def parse_period(name: str) -> Period:
    match = _QUARTER.match(name.strip())
    if not match:
        raise ValidationFailed(
            "period must look like 2026-Q4 (a year, '-Q', and a quarter from 1 to 4)",
            details={"field": "period"},
        )
    year, quarter = int(match["year"]), int(match["q"])
    start = date(year, 3 * quarter - 2, 1)
    next_start = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return Period(name=f"{year}-Q{quarter}", start=start, end=next_start - timedelta(days=1))


def period_of(day: date) -> Period:
    return parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
