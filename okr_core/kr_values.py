"""Writing computed values back: one automated check-in per bound key result per day.

The mart ``kr_daily_values`` gives one row per binding per day of the key result's period up to
now. Each becomes an automated check-in (``source = automated``) on that UTC day, upserted:
a rerun finds the day's automated check-in and updates it only if the value or the record set
changed, so reruns never double a check-in. Past days are stamped at the end of the day
(23:59:59 UTC), today's at the moment of computing. A binding created mid-quarter therefore
fills the whole period at once (history is backfilled from the landed records).

Each check-in's ``source_ref`` carries its lineage as compact JSON: binding id, metric, the
query (JQL or repositories; shortened if needed), record count, record-set hash (MD5 of the
record ids and update times) and when it was computed. The key result's current value follows
its latest check-in, as for manual ones. One audit event per key result whose values changed.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.binding_values import (
    VALUES_MODEL,
    BindingSpec,
    compute,
    tenant_specs,
    warehouse_sources,
)
from okr_core.models import CheckIn, CheckInSource, KeyResult
from okr_core.tenancy import require_tenant
from okr_core.warehouse import model_path, write_table_atomically

SOURCE_REF_LIMIT = 500  # CheckIn.source_ref is VARCHAR(500)
SYNC_ACTOR = Actor.system("source sync")


def source_ref(
    spec: BindingSpec, *, record_count: int, record_set_hash: str, computed_at: datetime
) -> str:
    """Lineage JSON that fits the column, shortening only the query if it must."""
    document: dict[str, Any] = {
        "binding_id": spec.binding_id,
        "metric": spec.metric.value,
        "query": spec.query,
        "record_count": record_count,
        "record_set_hash": record_set_hash,
        "computed_at": computed_at.astimezone(UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if len(text) > SOURCE_REF_LIMIT:
        overflow = len(text) - SOURCE_REF_LIMIT + 1
        document["query"] = spec.query[: max(0, len(spec.query) - overflow)] + "…"
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return text


def lineage(check_in: CheckIn) -> dict[str, Any] | None:
    """The lineage of an automated check-in (None for manual ones or unreadable refs)."""
    if check_in.source is not CheckInSource.automated or not check_in.source_ref:
        return None
    try:
        value = json.loads(check_in.source_ref)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class KeyResultWrite:
    key_result_id: uuid.UUID
    binding_id: str
    inserted: int = 0
    updated: int = 0
    archived: int = 0
    unchanged: int = 0
    current_value: float | None = None
    latest: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.archived)


@dataclass
class ValuesWrite:
    key_results: list[KeyResultWrite] = field(default_factory=list)

    @property
    def check_ins_written(self) -> int:
        return sum(k.inserted + k.updated for k in self.key_results)


def _checked_at(day: date, computed_at: datetime) -> datetime:
    end_of_day = datetime.combine(day, time(23, 59, 59), UTC)
    return min(end_of_day, computed_at)


def write_values(
    session: Session,
    *,
    values: pa.Table,
    specs: Sequence[BindingSpec],
    computed_at: datetime,
    actor: Actor = SYNC_ACTOR,
) -> ValuesWrite:
    """Upsert the day rows of ``values`` (the ``kr_daily_values`` mart) as check-ins.

    Runs in the session's tenant; bindings whose key result is gone or archived are skipped.
    """
    require_tenant(session)
    by_binding: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in values.to_pylist():
        by_binding[row["binding_id"]].append(row)
    outcome = ValuesWrite()
    for spec in specs:
        rows = by_binding.get(spec.binding_id)
        if not rows:
            continue
        kr = session.scalars(
            select(KeyResult).where(KeyResult.id == uuid.UUID(spec.key_result_id))
        ).one_or_none()
        if kr is None:
            continue
        outcome.key_results.append(
            _write_key_result(session, kr, spec, rows, computed_at=computed_at, actor=actor)
        )
    return outcome


def _write_key_result(
    session: Session,
    kr: KeyResult,
    spec: BindingSpec,
    rows: list[dict[str, Any]],
    *,
    computed_at: datetime,
    actor: Actor,
) -> KeyResultWrite:
    result = KeyResultWrite(key_result_id=kr.id, binding_id=spec.binding_id)
    days = sorted(rows, key=lambda r: r["day"])
    first = datetime.combine(days[0]["day"], time.min, UTC)
    last = datetime.combine(days[-1]["day"], time.min, UTC) + timedelta(days=1)
    existing: dict[date, CheckIn] = {}
    for check_in in session.scalars(
        select(CheckIn)
        .where(
            CheckIn.key_result_id == kr.id,
            CheckIn.source == CheckInSource.automated,
            CheckIn.archived_at.is_(None),
            CheckIn.checked_at >= first,
            CheckIn.checked_at < last,
        )
        .order_by(CheckIn.checked_at, CheckIn.created_at)
    ):
        existing.setdefault(check_in.checked_at.astimezone(UTC).date(), check_in)
    for row in days:
        day: date = row["day"]
        current = existing.get(day)
        value = row["value"]
        if value is None:
            if current is not None:
                current.archived_at = computed_at
                result.archived += 1
            continue
        value = float(value)
        ref_hash = str(row["record_set_hash"])
        old = lineage(current) if current is not None else None
        if (
            current is not None
            and current.value == value
            and old is not None
            and old.get("record_set_hash") == ref_hash
            and old.get("binding_id") == spec.binding_id
        ):
            result.unchanged += 1
            continue
        ref = source_ref(
            spec,
            record_count=int(row["record_count"]),
            record_set_hash=ref_hash,
            computed_at=computed_at,
        )
        if current is None:
            session.add(
                CheckIn(
                    key_result_id=kr.id,
                    value=value,
                    checked_at=_checked_at(day, computed_at),
                    source=CheckInSource.automated,
                    source_ref=ref,
                    note="",
                )
            )
            result.inserted += 1
        else:
            current.value = value
            current.source_ref = ref
            current.checked_at = _checked_at(day, computed_at)
            result.updated += 1
    latest = days[-1]
    result.latest = {
        "day": latest["day"].isoformat(),
        "value": latest["value"],
        "record_count": int(latest["record_count"]),
        "record_set_hash": latest["record_set_hash"],
    }
    session.flush()
    before = kr.current_value
    _refresh_current_value(session, kr)
    result.current_value = kr.current_value
    if result.changed or before != kr.current_value:
        audit.record(
            session,
            actor=actor,
            action="key_result.synced",
            target_type="key_result",
            target_id=kr.id,
            changes={
                "current_value": {"from": before, "to": kr.current_value},
                "binding_id": spec.binding_id,
                "metric": spec.metric.value,
                "check_ins_inserted": result.inserted,
                "check_ins_updated": result.updated,
                "check_ins_archived": result.archived,
                "record_count": result.latest["record_count"],
                "record_set_hash": result.latest["record_set_hash"],
                "computed_at": computed_at.isoformat(),
            },
        )
    return result


def _refresh_current_value(session: Session, kr: KeyResult) -> None:
    """The current value follows the latest check-in, exactly as for manual check-ins."""
    latest = session.scalars(
        select(CheckIn.value)
        .where(CheckIn.key_result_id == kr.id, CheckIn.archived_at.is_(None))
        .order_by(CheckIn.checked_at.desc(), CheckIn.created_at.desc())
        .limit(1)
    ).first()
    kr.current_value = kr.start_value if latest is None else latest


def latest_values(values: pa.Table) -> Mapping[str, dict[str, Any]]:
    """The last day's row per binding (for metadata and checks)."""
    out: dict[str, dict[str, Any]] = {}
    for row in values.to_pylist():
        seen = out.get(row["binding_id"])
        if seen is None or row["day"] > seen["day"]:
            out[row["binding_id"]] = row
    return out


@dataclass
class TenantValues:
    """One tenant's refresh: the models' outputs and what was written."""

    outputs: dict[str, pa.Table]
    written: ValuesWrite
    specs: list[BindingSpec]


def refresh_tenant_values(
    session: Session,
    *,
    warehouse_dir: Path,
    as_of: datetime,
    write_model_outputs: bool = False,
    actor: Actor = SYNC_ACTOR,
) -> TenantValues:
    """Run the SQL models over the session tenant's landed files and write the values.

    With ``write_model_outputs`` every model's output is also written (atomically) to
    ``warehouse/tenant=<id>/models/<model>.parquet``, which is what the per-model Dagster assets
    materialise. Does not commit.
    """
    tenant_id = require_tenant(session)
    specs = tenant_specs(session, synced_only=True)
    sources = warehouse_sources(warehouse_dir, tenant_id)
    outputs = compute(sources=sources, specs=specs, as_of=as_of)
    if write_model_outputs:
        for name, table in outputs.items():
            write_table_atomically(model_path(warehouse_dir, tenant_id, name), table, durable=False)
    written = write_values(
        session, values=outputs[VALUES_MODEL], specs=specs, computed_at=as_of, actor=actor
    )
    return TenantValues(outputs=outputs, written=written, specs=specs)
