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
from typing import Any, cast

import pyarrow as pa
from sqlalchemy import Table, bindparam, func, insert, select, update
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
from okr_core.db.base import utcnow
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

    Set-based, because a new binding backfills a whole quarter (one check-in per day) and a
    sync writes many tenants at once: one query reads the key results, one the automated
    check-ins they already have, new check-ins go in as one multi-row insert (an executemany of
    one prepared statement, never one ORM object per row), changed ones as one executemany
    update, and one query finds every key result's latest check-in for its current value.
    """
    tenant_id = require_tenant(session)
    by_binding: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in values.to_pylist():
        by_binding[row["binding_id"]].append(row)
    work = [
        (spec, by_binding[spec.binding_id]) for spec in specs if by_binding.get(spec.binding_id)
    ]
    outcome = ValuesWrite()
    if not work:
        return outcome
    kr_ids = list(dict.fromkeys(uuid.UUID(spec.key_result_id) for spec, _ in work))
    krs = {kr.id: kr for kr in session.scalars(select(KeyResult).where(KeyResult.id.in_(kr_ids)))}
    work = [(spec, rows) for spec, rows in work if uuid.UUID(spec.key_result_id) in krs]
    if not work:
        return outcome
    existing = _existing_check_ins(session, work)
    plan = _Plan()
    results: list[tuple[KeyResult, BindingSpec, KeyResultWrite]] = []
    for spec, rows in work:
        kr = krs[uuid.UUID(spec.key_result_id)]
        result = _plan_key_result(
            plan,
            tenant_id=tenant_id,
            kr_id=kr.id,
            spec=spec,
            rows=rows,
            existing=existing.get(kr.id, {}),
            computed_at=computed_at,
        )
        results.append((kr, spec, result))
    plan.execute(session, computed_at=computed_at)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CheckIn):  # written around the ORM: reload if read again
            session.expire(obj)
    latest = _latest_check_in_values(session, list(krs))
    for kr, spec, result in results:
        before = kr.current_value
        value = latest.get(kr.id)
        kr.current_value = kr.start_value if value is None else value
        result.current_value = kr.current_value
        outcome.key_results.append(result)
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
    return outcome


@dataclass(frozen=True, slots=True)
class _Existing:
    """The columns of an automated check-in that the upsert compares."""

    id: uuid.UUID
    value: float
    source_ref: str | None


@dataclass
class _Plan:
    """Every write of one tenant's refresh, executed in three statements at most."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    archives: list[uuid.UUID] = field(default_factory=list)

    def execute(self, session: Session, *, computed_at: datetime) -> None:
        table = cast(Table, CheckIn.__table__)
        if self.inserts:
            session.execute(insert(table), self.inserts)
        if self.updates:
            session.execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(
                    value=bindparam("new_value"),
                    source_ref=bindparam("new_source_ref"),
                    checked_at=bindparam("new_checked_at"),
                ),
                self.updates,
            )
        for start in range(0, len(self.archives), 1000):
            session.execute(
                update(table)
                .where(table.c.id.in_(self.archives[start : start + 1000]))
                .values(archived_at=computed_at)
            )


def _day_window(rows: Sequence[dict[str, Any]]) -> tuple[datetime, datetime]:
    days = [row["day"] for row in rows]
    first = datetime.combine(min(days), time.min, UTC)
    last = datetime.combine(max(days), time.min, UTC) + timedelta(days=1)
    return first, last


def _existing_check_ins(
    session: Session, work: Sequence[tuple[BindingSpec, list[dict[str, Any]]]]
) -> dict[uuid.UUID, dict[date, _Existing]]:
    """Per key result, its first live automated check-in of each day the rows cover."""
    windows: dict[uuid.UUID, tuple[datetime, datetime]] = {}
    for spec, rows in work:
        kr_id = uuid.UUID(spec.key_result_id)
        first, last = _day_window(rows)
        if kr_id in windows:
            first, last = min(first, windows[kr_id][0]), max(last, windows[kr_id][1])
        windows[kr_id] = (first, last)
    found: dict[uuid.UUID, dict[date, _Existing]] = defaultdict(dict)
    stmt = (
        select(
            CheckIn.id, CheckIn.key_result_id, CheckIn.checked_at, CheckIn.value, CheckIn.source_ref
        )
        .where(
            CheckIn.key_result_id.in_(list(windows)),
            CheckIn.source == CheckInSource.automated,
            CheckIn.archived_at.is_(None),
            CheckIn.checked_at >= min(w[0] for w in windows.values()),
            CheckIn.checked_at < max(w[1] for w in windows.values()),
        )
        .order_by(CheckIn.key_result_id, CheckIn.checked_at, CheckIn.created_at)
    )
    for row_id, kr_id, checked_at, value, ref in session.execute(stmt):
        first, last = windows[kr_id]
        if not first <= checked_at < last:
            continue
        found[kr_id].setdefault(
            checked_at.astimezone(UTC).date(), _Existing(row_id, float(value), ref)
        )
    return found


def _lineage_of(source_ref: str | None) -> dict[str, Any] | None:
    if not source_ref:
        return None
    try:
        value = json.loads(source_ref)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _plan_key_result(
    plan: _Plan,
    *,
    tenant_id: uuid.UUID,
    kr_id: uuid.UUID,
    spec: BindingSpec,
    rows: list[dict[str, Any]],
    existing: dict[date, _Existing],
    computed_at: datetime,
) -> KeyResultWrite:
    result = KeyResultWrite(key_result_id=kr_id, binding_id=spec.binding_id)
    days = sorted(rows, key=lambda r: r["day"])
    created_at = utcnow()
    for row in days:
        day: date = row["day"]
        current = existing.get(day)
        value = row["value"]
        if value is None:
            if current is not None:
                plan.archives.append(current.id)
                result.archived += 1
            continue
        value = float(value)
        ref_hash = str(row["record_set_hash"])
        old = _lineage_of(current.source_ref) if current is not None else None
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
            plan.inserts.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant_id,
                    "key_result_id": kr_id,
                    "value": value,
                    "checked_at": _checked_at(day, computed_at),
                    "author_id": None,
                    "source": CheckInSource.automated,
                    "source_ref": ref,
                    "note": "",
                    "created_at": created_at,
                    "archived_at": None,
                }
            )
            result.inserted += 1
        else:
            plan.updates.append(
                {
                    "row_id": current.id,
                    "new_value": value,
                    "new_source_ref": ref,
                    "new_checked_at": _checked_at(day, computed_at),
                }
            )
            result.updated += 1
    latest = days[-1]
    result.latest = {
        "day": latest["day"].isoformat(),
        "value": latest["value"],
        "record_count": int(latest["record_count"]),
        "record_set_hash": latest["record_set_hash"],
    }
    return result


def _latest_check_in_values(
    session: Session, kr_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, float]:
    """Each key result's latest live check-in value (manual or automated), in one query: the
    current value follows it, exactly as for manual check-ins."""
    ranked = (
        select(
            CheckIn.key_result_id,
            CheckIn.value,
            func.row_number()
            .over(
                partition_by=CheckIn.key_result_id,
                order_by=(CheckIn.checked_at.desc(), CheckIn.created_at.desc()),
            )
            .label("position"),
        )
        .where(CheckIn.key_result_id.in_(list(kr_ids)), CheckIn.archived_at.is_(None))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.key_result_id, ranked.c.value).where(ranked.c.position == 1)
    )
    return {kr_id: float(value) for kr_id, value in rows}


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
    # Every model that ran and its row count (``outputs`` may hold only some of them).
    row_counts: dict[str, int] = field(default_factory=dict)

    def row_count(self, model: str) -> int | None:
        if model in self.row_counts:
            return self.row_counts[model]
        return self.outputs[model].num_rows if model in self.outputs else None


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
