"""Run a binding once, live, before it is saved: its value today and the records behind it.

The preview pulls the binding's records with the same connector as the syncs (a short retry
policy: an admin is waiting), runs the same SQL models over them in memory and lands nothing.
The value is exactly the one the first sync would write for today.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.binding_values import RECORDS_MODEL, VALUES_MODEL, compute, make_spec
from okr_core.extraction import preview_sources
from okr_core.models import Integration, KeyResult, Metric, Objective
from okr_core.secrets import CredentialCipher
from okr_core.sources.errors import PermanentSourceError
from okr_core.sources.registry import connector_for
from okr_core.sources.retry import PREVIEW_RETRY, RetryPolicy

PREVIEW_BINDING_ID = "00000000-0000-0000-0000-00000000b1d0"


@dataclass(frozen=True)
class BindingPreview:
    """``value`` is None when the metric has no value yet (a share of no records, a period
    that has not started). ``records`` is a sample of the records counted today, newest
    update first; ``record_count`` counts all of them."""

    value: float | None
    record_count: int
    records: list[dict[str, Any]] = field(default_factory=list)
    query: str = ""


def preview_binding(
    session: Session,
    *,
    integration: Integration,
    key_result: KeyResult,
    metric: Metric,
    parameters: dict[str, Any],
    whole_history: bool,
    cipher: CredentialCipher,
    sample_size: int = 20,
    as_of: datetime | None = None,
    retry: RetryPolicy = PREVIEW_RETRY,
) -> BindingPreview:
    """Raises ``PermanentSourceError`` (bad parameters, credentials, JQL) or
    ``TransientSourceError`` (the source is unreachable or rate limited right now)."""
    objective = session.scalars(
        select(Objective).where(Objective.id == key_result.objective_id)
    ).one_or_none()
    if objective is None:
        raise PermanentSourceError("the key result's objective was not found")
    spec = make_spec(
        binding_id=PREVIEW_BINDING_ID,
        key_result=key_result,
        objective=objective,
        integration=integration,
        metric=metric,
        parameters=parameters,
        whole_history=whole_history,
    )
    as_of = as_of or datetime.now(UTC)
    connector = connector_for(integration, cipher, retry=retry)
    try:
        sources = preview_sources(connector, spec)
    finally:
        close = getattr(connector, "close", None)
        if callable(close):
            close()
    outputs = compute(
        sources=sources, specs=[spec], as_of=as_of, select_models=[VALUES_MODEL, RECORDS_MODEL]
    )
    values = outputs[VALUES_MODEL]
    latest = values.filter(pc.equal(values.column("is_latest_day"), True)).to_pylist()
    records = outputs[RECORDS_MODEL]
    counted: list[dict[str, Any]] = []
    if latest:
        day_end = datetime.combine(latest[0]["day"], time.min, UTC) + timedelta(days=1)
        counted = [r for r in records.to_pylist() if _utc(r["counted_from_at"]) < day_end]
    counted.sort(
        key=lambda r: (_utc(r["record_updated_at"] or datetime.min), r["record_id"]),
        reverse=True,
    )
    value = latest[0]["value"] if latest else None
    return BindingPreview(
        value=None if value is None else float(value),
        record_count=int(latest[0]["record_count"]) if latest else 0,
        records=[_sample(r) for r in counted[: max(0, sample_size)]],
        query=spec.query,
    )


def _utc(value: datetime) -> datetime:
    """Model outputs are naive UTC timestamps."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    return str(value)


def _sample(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["record_id"],
        "key": row["record_key"],
        "title": row["record_title"],
        "status": row["record_status"],
        "updated_at": _iso(row["record_updated_at"]),
        "counts_from": _iso(row["counted_from_at"]),
        "succeeded_at": _iso(row["succeeded_at"]),
        "measure": row["measure"],
    }
