"""API usage telemetry: daily aggregates per key, route template and status.

The API aggregates requests in memory and calls :func:`add_usage` in the background; this module
only adds deltas to rows (an upsert, so processes can flush concurrently) and reads summaries.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from okr_core.api_keys import get_api_key
from okr_core.models import ApiKeyUsage
from okr_core.models.api_key import LATENCY_BOUNDS_MS, LATENCY_COLUMNS
from okr_core.tenancy import require_tenant

USAGE_KEY_COLUMNS = ("api_key_id", "day", "route", "status")


def bucket_of(latency_ms: float) -> int:
    """Index of the histogram bucket holding ``latency_ms``."""
    return bisect_left(LATENCY_BOUNDS_MS, latency_ms)


@dataclass(slots=True)
class UsageDelta:
    """Requests to add to one (key, day, route, status) row."""

    api_key_id: uuid.UUID
    day: date
    route: str
    status: int
    requests: int = 0
    latency_ms_total: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_COLUMNS))

    def add(self, latency_ms: float) -> None:
        self.requests += 1
        self.latency_ms_total += latency_ms
        self.histogram[bucket_of(latency_ms)] += 1


def add_usage(session: Session, deltas: Iterable[UsageDelta]) -> int:
    """Add each delta to its row in the session's tenant; returns how many rows were touched."""
    tenant_id = require_tenant(session)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    touched = 0
    for delta in deltas:
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "api_key_id": delta.api_key_id,
            "day": delta.day,
            "route": delta.route[:200],
            "status": delta.status,
            "requests": delta.requests,
            "latency_ms_total": delta.latency_ms_total,
            **dict(zip(LATENCY_COLUMNS, delta.histogram, strict=True)),
        }
        stmt = insert(ApiKeyUsage).values(values)
        additive = ("requests", "latency_ms_total", *LATENCY_COLUMNS)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(USAGE_KEY_COLUMNS),
            set_={name: getattr(ApiKeyUsage, name) + stmt.excluded[name] for name in additive},
        )
        session.execute(stmt)
        touched += 1
    return touched


def percentile(histogram: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0-1) of a latency histogram, interpolated inside its bucket."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = 0.0 if index == 0 else float(LATENCY_BOUNDS_MS[index - 1])
            if index >= len(LATENCY_BOUNDS_MS):
                return lower
            upper = float(LATENCY_BOUNDS_MS[index])
            return round(lower + (upper - lower) * (rank - seen) / count, 2)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    requests: int
    errors: int
    server_errors: int
    p95_ms: float | None
    mean_ms: float | None

    @property
    def error_rate(self) -> float:
        return round(self.errors / self.requests, 4) if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class RouteUsage:
    route: str
    requests: int
    errors: int
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class UsageSummary:
    key_id: uuid.UUID
    since: date
    until: date
    days: list[DayUsage]
    routes: list[RouteUsage]
    requests: int
    errors: int
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return round(self.errors / self.requests, 4) if self.requests else 0.0


def usage_summary(
    session: Session, *, key_id: uuid.UUID, days: int = 30, today: date | None = None
) -> UsageSummary:
    """Requests per day (every day of the window, zeros included), error rate and p95 latency
    of one key over the last ``days`` UTC days, with a per-route breakdown."""
    get_api_key(session, key_id)
    until = today or datetime.now(UTC).date()
    since = until - timedelta(days=days - 1)
    sums = [func.sum(getattr(ApiKeyUsage, name)) for name in LATENCY_COLUMNS]
    rows = session.execute(
        select(
            ApiKeyUsage.day,
            ApiKeyUsage.route,
            ApiKeyUsage.status,
            func.sum(ApiKeyUsage.requests),
            func.sum(ApiKeyUsage.latency_ms_total),
            *sums,
        )
        .where(ApiKeyUsage.api_key_id == key_id, ApiKeyUsage.day >= since)
        .group_by(ApiKeyUsage.day, ApiKeyUsage.route, ApiKeyUsage.status)
    ).all()
    width = len(LATENCY_COLUMNS)
    per_day: dict[date, list[Any]] = {}
    per_route: dict[str, list[Any]] = {}
    overall = [0] * width
    for row in rows:
        day, route, status, requests, latency_total = row[:5]
        histogram = [int(v or 0) for v in row[5:]]
        is_error = int(status) >= 400
        d = per_day.setdefault(day, [0, 0, 0, 0.0, [0] * width])
        d[0] += int(requests)
        d[1] += int(requests) if is_error else 0
        d[2] += int(requests) if int(status) >= 500 else 0
        d[3] += float(latency_total or 0.0)
        d[4] = [a + b for a, b in zip(d[4], histogram, strict=True)]
        r = per_route.setdefault(route, [0, 0, [0] * width])
        r[0] += int(requests)
        r[1] += int(requests) if is_error else 0
        r[2] = [a + b for a, b in zip(r[2], histogram, strict=True)]
        overall = [a + b for a, b in zip(overall, histogram, strict=True)]
    day_rows = []
    for offset in range(days):
        day = since + timedelta(days=offset)
        requests, errors, server_errors, latency_total, histogram = per_day.get(
            day, [0, 0, 0, 0.0, [0] * width]
        )
        day_rows.append(
            DayUsage(
                day=day,
                requests=requests,
                errors=errors,
                server_errors=server_errors,
                p95_ms=percentile(histogram, 0.95),
                mean_ms=round(latency_total / requests, 2) if requests else None,
            )
        )
    route_rows = [
        RouteUsage(route=route, requests=v[0], errors=v[1], p95_ms=percentile(v[2], 0.95))
        for route, v in sorted(per_route.items(), key=lambda item: -item[1][0])
    ]
    total = sum(d.requests for d in day_rows)
    return UsageSummary(
        key_id=key_id,
        since=since,
        until=until,
        days=day_rows,
        routes=route_rows,
        requests=total,
        errors=sum(d.errors for d in day_rows),
        p95_ms=percentile(overall, 0.95),
    )
