"""The warehouse: per-tenant paths, atomic whole-file writes, upsert by key, one writer."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from okr_core import warehouse
from okr_core.warehouse import (
    WarehouseBusy,
    locked,
    merge,
    read_table,
    tenant_dir,
    write_table_atomically,
)

SCHEMA = pa.schema(
    [
        pa.field("integration_id", pa.string()),
        pa.field("id", pa.string()),
        pa.field("v", pa.int64()),
    ]
)


def rows(*items: tuple[str, str, int]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"integration_id": i, "id": k, "v": v} for i, k, v in items], schema=SCHEMA
    )


def test_paths_are_per_tenant_and_refuse_anything_but_a_tenant_id(tmp_path: Path) -> None:
    tenant = uuid.uuid4()
    assert tenant_dir(tmp_path, tenant) == tmp_path / f"tenant={tenant}"
    path = warehouse.JIRA_ISSUES.path(tmp_path, tenant)
    assert path == tmp_path / f"tenant={tenant}" / "jira" / "issues.parquet"
    with pytest.raises(ValueError, match="badly formed"):
        tenant_dir(tmp_path, "../other")


def test_upsert_replaces_by_key_and_drops_what_is_asked(tmp_path: Path) -> None:
    existing = rows(("a", "1", 1), ("a", "2", 2), ("b", "1", 9))
    incoming = rows(("a", "2", 20), ("a", "3", 3), ("a", "3", 30))
    drop = pa.array(["a\x1f1"])
    merged, result = merge(existing, incoming, ("integration_id", "id"), drop=drop)
    assert sorted(merged.to_pylist(), key=lambda r: (r["integration_id"], r["id"])) == [
        {"integration_id": "a", "id": "2", "v": 20},
        {"integration_id": "a", "id": "3", "v": 30},  # the later duplicate wins
        {"integration_id": "b", "id": "1", "v": 9},  # same id, other integration: untouched
    ]
    assert (result.inserted, result.updated, result.deleted, result.total) == (1, 1, 1, 3)


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.parquet"
    write_table_atomically(path, rows(("a", "1", 1)))

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(warehouse.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_table_atomically(path, rows(("a", "1", 2)))
    monkeypatch.undo()
    assert read_table(path, SCHEMA).to_pylist() == [{"integration_id": "a", "id": "1", "v": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]  # no temp file left behind


def test_one_writer_per_folder(tmp_path: Path) -> None:
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with locked(tmp_path):
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    started = time.monotonic()
    with pytest.raises(WarehouseBusy), locked(tmp_path, timeout=0.2):
        pass
    assert time.monotonic() - started >= 0.2
    release.set()
    holder.join()
    with locked(tmp_path, timeout=1):
        pass


def test_re_reading_an_unchanged_record_is_not_a_change() -> None:
    existing = rows(("a", "1", 1), ("a", "2", 2))
    _, same = merge(existing, rows(("a", "2", 2)), ("integration_id", "id"))
    assert (same.updated, same.unchanged, same.changed) == (0, 1, False)
    _, different = merge(existing, rows(("a", "2", 3)), ("integration_id", "id"))
    assert (different.updated, different.unchanged, different.changed) == (1, 0, True)
