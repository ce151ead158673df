"""The per-tenant warehouse: Parquet files under ``<data_dir>/warehouse/tenant=<tenant_id>/``.

Layout (one folder per tenant, nothing shared between tenants)::

    tenant=<id>/jira/issues.parquet            one row per (integration, issue)
    tenant=<id>/jira/binding_issues.parquet    one row per (integration, binding, matching issue)
    tenant=<id>/github/pull_requests.parquet   one row per (integration, pull request)
    tenant=<id>/models/<model>.parquet         outputs of the SQL models (Dagster assets)

Every write replaces a whole file atomically: the new content goes to a temporary file in the
same folder, is flushed to disk (``fsync``), then ``os.replace`` swaps it in and the folder entry
is flushed. A reader or a crashed writer never sees half a file. Loads upsert by key, so
repeating a landing (after a crash before the watermark moved) changes nothing.

Writers of one tenant's source folder serialise on an ``fcntl`` lock file in that folder (a
webhook-triggered and a scheduled sync of the same tenant may overlap).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from okr_core.sources.github.records import PULL_REQUEST_SCHEMA
from okr_core.sources.jira.records import BINDING_ISSUE_SCHEMA, ISSUE_SCHEMA


@dataclass(frozen=True, slots=True)
class WarehouseTable:
    source: str
    entity: str
    schema: pa.Schema
    key: tuple[str, ...]

    def path(self, warehouse_dir: Path, tenant_id: uuid.UUID | str) -> Path:
        return source_dir(warehouse_dir, tenant_id, self.source) / f"{self.entity}.parquet"


JIRA_ISSUES = WarehouseTable("jira", "issues", ISSUE_SCHEMA, ("integration_id", "issue_id"))
JIRA_BINDING_ISSUES = WarehouseTable(
    "jira", "binding_issues", BINDING_ISSUE_SCHEMA, ("integration_id", "binding_id", "issue_id")
)
GITHUB_PULL_REQUESTS = WarehouseTable(
    "github", "pull_requests", PULL_REQUEST_SCHEMA, ("integration_id", "pull_request_id")
)
TABLES = (JIRA_ISSUES, JIRA_BINDING_ISSUES, GITHUB_PULL_REQUESTS)
_KEY_SEPARATOR = "\x1f"


def tenant_dir(warehouse_dir: Path, tenant_id: uuid.UUID | str) -> Path:
    tenant = str(uuid.UUID(str(tenant_id)))  # refuses anything that is not a tenant id
    return Path(warehouse_dir) / f"tenant={tenant}"


def source_dir(warehouse_dir: Path, tenant_id: uuid.UUID | str, source: str) -> Path:
    if not source.isidentifier():
        raise ValueError(f"invalid source name {source!r}")
    return tenant_dir(warehouse_dir, tenant_id) / source


def model_path(warehouse_dir: Path, tenant_id: uuid.UUID | str, model: str) -> Path:
    if not model.replace("__", "_").isidentifier():
        raise ValueError(f"invalid model name {model!r}")
    return tenant_dir(warehouse_dir, tenant_id) / "models" / f"{model}.parquet"


# -- reading and writing whole files -----------------------------------------------------------


def read_table(path: Path, schema: pa.Schema) -> pa.Table:
    """The file's rows in ``schema`` (an empty table when the file does not exist yet)."""
    if not path.exists():
        return schema.empty_table()
    table = pq.read_table(path)
    return conform(table, schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Columns of ``schema`` in its order and types; missing columns become nulls."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(len(table), field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def write_table_atomically(path: Path, table: pa.Table, *, durable: bool = True) -> None:
    """Replace ``path`` with ``table`` in one step (readers see the old or the new file).

    ``durable`` also flushes the file and its folder entry to disk before returning, which
    landed data needs (the watermark moves right after); derived outputs that are recomputed
    from it anyway skip the two ``fsync`` calls.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle, compression="snappy")
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def records_table(records: Iterable[dict[str, object]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(records), schema=schema)


# -- keyed operations --------------------------------------------------------------------------


def key_column(table: pa.Table, key: Sequence[str]) -> pa.ChunkedArray:
    """One string per row joining the key columns (for set membership tests)."""
    if len(key) == 1:
        return table.column(key[0]).cast(pa.string())
    parts = [table.column(name).cast(pa.string()) for name in key]
    return pc.binary_join_element_wise(*parts, _KEY_SEPARATOR)


def dedupe_last(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """Keep the last row of each key (later pages carry newer versions of a record)."""
    if table.num_rows == 0:
        return table
    keys = pa.table({"k": key_column(table, key), "i": pa.array(range(table.num_rows))})
    last = keys.group_by("k").aggregate([("i", "max")]).column("i_max")
    return table.take(pc.take(last, pc.sort_indices(last)))  # row positions, in file order


@dataclass(frozen=True, slots=True)
class UpsertResult:
    inserted: int
    updated: int  # rows whose content changed (a re-read identical row is not an update)
    deleted: int
    total: int
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)


def _changed_rows(
    before: pa.Table, after: pa.Table, key: Sequence[str], ignore: Sequence[str]
) -> int:
    """How many rows of ``after`` differ from the row with the same key in ``before``
    (both hold the same keys), ignoring bookkeeping columns such as ``landed_at``."""
    if after.num_rows == 0:
        return 0
    columns = [c for c in after.column_names if c not in ignore]
    order = [(name, "ascending") for name in key]
    left = before.select(columns).sort_by(order)
    right = after.select(columns).cast(left.schema).sort_by(order)
    if left.equals(right):
        return 0
    same = [
        row_a == row_b for row_a, row_b in zip(left.to_pylist(), right.to_pylist(), strict=True)
    ]
    return same.count(False)


def merge(
    existing: pa.Table,
    incoming: pa.Table,
    key: Sequence[str],
    *,
    drop: pa.ChunkedArray | pa.Array | None = None,
    ignore: Sequence[str] = ("landed_at",),
) -> tuple[pa.Table, UpsertResult]:
    """``existing`` with ``incoming`` upserted by ``key`` and rows whose key is in ``drop`` gone.

    Re-reading a record that did not change (the watermark's overlap does that on purpose)
    counts as unchanged, so callers can skip rewriting a file whose content is the same.
    """
    incoming = dedupe_last(incoming, key)
    existing_keys = key_column(existing, key)
    incoming_keys = key_column(incoming, key)
    replaced = pc.is_in(existing_keys, value_set=incoming_keys.combine_chunks())
    mask = pc.invert(replaced)
    deleted = 0
    if drop is not None and len(drop):
        dropped = pc.and_(mask, pc.is_in(existing_keys, value_set=pa.chunked_array([drop])))
        deleted = pc.sum(dropped).as_py() or 0
        mask = pc.and_(mask, pc.invert(dropped))
    matched = pc.sum(replaced).as_py() or 0
    updated = 0
    if matched:
        known = pc.is_in(incoming_keys, value_set=existing_keys.combine_chunks())
        updated = _changed_rows(existing.filter(replaced), incoming.filter(known), key, ignore)
    merged = pa.concat_tables([existing.filter(mask), incoming.cast(existing.schema)])
    result = UpsertResult(
        inserted=incoming.num_rows - matched,
        updated=updated,
        deleted=deleted,
        total=merged.num_rows,
        unchanged=matched - updated,
    )
    return merged, result


def filter_in(table: pa.Table, column: str, values: Iterable[str]) -> pa.Table:
    value_set = pa.array(sorted(set(values)), type=pa.string())
    return table.filter(pc.is_in(table.column(column).cast(pa.string()), value_set=value_set))


def filter_not_in(table: pa.Table, column: str, values: Iterable[str]) -> pa.Table:
    value_set = pa.array(sorted(set(values)), type=pa.string())
    mask = pc.invert(pc.is_in(table.column(column).cast(pa.string()), value_set=value_set))
    return table.filter(mask)


# -- locking -------------------------------------------------------------------------------------


class WarehouseBusy(Exception):
    """Another writer holds the folder's lock for longer than we are willing to wait."""


@contextlib.contextmanager
def locked(directory: Path, *, timeout: float = 600.0, poll: float = 0.05) -> Iterator[None]:
    """Exclusive lock on ``directory`` (an ``fcntl`` lock on ``directory/.lock``)."""
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(directory / ".lock", "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"{directory.name} is being written by another sync"
                    ) from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
