"""Invariants of computed key-result values, as the Dagster asset checks evaluate them.

- **not null**: a binding whose latest day counts records has a value (a share or median over
  no records is legitimately null; over some records it never is);
- **within bounds**: counts, sums, medians are finite and not negative; shares lie in 0-100;
- **fresh**: every integration a binding uses succeeded within twice its sync interval (plus a
  grace period), so a value is never silently computed from stale data.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.binding_values import VALUES_MODEL, BindingSpec
from okr_core.kr_values import TenantValues, latest_values
from okr_core.models import Integration, Metric

SHARE_METRICS = frozenset({Metric.jira_done_share, Metric.github_merge_rate})
FRESHNESS_GRACE = timedelta(minutes=15)


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    failures: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: CheckOutcome) -> CheckOutcome:
        return CheckOutcome(
            self.name, self.passed and other.passed, [*self.failures, *other.failures]
        )


def check_not_null(latest: Mapping[str, Mapping[str, Any]]) -> CheckOutcome:
    failures = [
        {"binding_id": binding_id, "record_count": int(row["record_count"])}
        for binding_id, row in latest.items()
        if row["value"] is None and int(row["record_count"]) > 0
    ]
    return CheckOutcome("values_not_null", not failures, failures)


def check_within_bounds(
    rows: Iterable[Mapping[str, Any]], specs: Sequence[BindingSpec]
) -> CheckOutcome:
    metric_of = {s.binding_id: s.metric for s in specs}
    failures: list[dict[str, Any]] = []
    for row in rows:
        value = row["value"]
        if value is None:
            continue
        metric = metric_of.get(row["binding_id"])
        low, high = (0.0, 100.0) if metric in SHARE_METRICS else (0.0, math.inf)
        if not math.isfinite(float(value)) or not low <= float(value) <= high:
            failures.append(
                {"binding_id": row["binding_id"], "day": str(row["day"]), "value": value}
            )
    return CheckOutcome("values_within_bounds", not failures, failures[:50])


def check_fresh(session: Session, specs: Sequence[BindingSpec], *, now: datetime) -> CheckOutcome:
    """Runs in the session's tenant."""
    ids = sorted({uuid.UUID(s.integration_id) for s in specs}, key=str)
    failures: list[dict[str, Any]] = []
    if ids:
        for integration in session.scalars(select(Integration).where(Integration.id.in_(ids))):
            allowed = timedelta(minutes=2 * integration.sync_interval_minutes) + FRESHNESS_GRACE
            last = integration.last_success_at
            if integration.is_paused:
                continue
            if last is None or now - last > allowed:
                failures.append(
                    {
                        "integration_id": str(integration.id),
                        "last_success_at": last.isoformat() if last else None,
                    }
                )
    return CheckOutcome("sources_fresh", not failures, failures)


def evaluate(session: Session, values: TenantValues, *, now: datetime) -> list[CheckOutcome]:
    """All three checks over one tenant's freshly computed values (in the session's tenant)."""
    table = values.outputs[VALUES_MODEL]
    return [
        check_not_null(latest_values(table)),
        check_within_bounds(table.to_pylist(), values.specs),
        check_fresh(session, values.specs, now=now),
    ]
