"""The warehouse: per-tenant paths, atomic whole-file writes, upsert by key, one writer."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from okr_core import warehouse
from okr_core.warehouse import (
    WarehouseBusy,
    land_changes,
    locked,
    merge,
    read_recent,
    read_table,
    same_rows,
    table_files,
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


# -- deltas --------------------------------------------------------------------------------------

KEY = ("integration_id", "id")


def many(count: int, value: int = 0) -> pa.Table:
    return rows(*(("a", str(n), value) for n in range(count)))


def land(path: Path, upserts: pa.Table, deletes: list[str] | None = None) -> str:
    gone = pa.table(
        {
            "integration_id": pa.array(["a"] * len(deletes or []), pa.string()),
            "id": pa.array(deletes or [], pa.string()),
        }
    )
    return land_changes(path, schema=SCHEMA, key=KEY, upserts=upserts, deletes=gone)


def as_dict(table: pa.Table) -> dict[str, int]:
    return {r["id"]: r["v"] for r in table.to_pylist()}


def test_small_changes_land_as_deltas_that_readers_apply(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    assert land(path, many(100)) == "rewrite"  # nothing landed yet: the base
    base_bytes = path.read_bytes()
    assert land(path, rows(("a", "1", 10), ("a", "100", 100)), deletes=["2"]) == "delta"
    assert path.read_bytes() == base_bytes  # the base is not rewritten
    assert len(table_files(path)) == 2
    table = read_table(path, SCHEMA)
    expected = {str(n): 0 for n in range(100)} | {"1": 10, "100": 100}
    del expected["2"]
    assert as_dict(table) == expected
    assert table.num_rows == len(expected)  # one row per key
    # A later delta wins over an earlier one, and a deleted key can come back.
    assert land(path, rows(("a", "1", 11), ("a", "2", 22))) == "delta"
    assert as_dict(read_table(path, SCHEMA)) == expected | {"1": 11, "2": 22}
    assert land(path, SCHEMA.empty_table()) == "none"


def test_deltas_are_compacted_into_the_base_when_they_add_up(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    land(path, many(100))
    outcomes = [land(path, rows(("a", str(n), n + 1000))) for n in range(30)]
    assert outcomes[:18] == ["delta"] * 16 + ["rewrite", "delta"]  # 16 deltas at most
    table = read_table(path, SCHEMA)
    assert as_dict(table) == {str(n): (n + 1000 if n < 30 else 0) for n in range(100)}
    # After a rewrite only the deltas landed since remain beside the base.
    pending = [p for p in tmp_path.iterdir() if ".delta-" in p.name]
    assert len(pending) == len(table_files(path)) - 1 == outcomes[::-1].index("rewrite")


def test_deltas_a_crashed_compaction_left_behind_are_not_applied_again(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    land(path, many(10))
    land(path, rows(("a", "1", 1)), deletes=["2"])
    saved = {p.name: p.read_bytes() for p in tmp_path.iterdir() if ".delta-" in p.name}
    merged = read_table(path, SCHEMA)
    write_table_atomically(path, merged.filter(pc.not_equal(merged.column("id"), "3")))
    for name, content in saved.items():  # the crash: the merged deltas were not removed
        (tmp_path / name).write_bytes(content)
    after = as_dict(read_table(path, SCHEMA))
    assert "3" not in after
    assert "2" not in after
    assert after["1"] == 1
    assert table_files(path) == [path]
    land(path, rows(("a", "3", 33)))  # numbered after the leftovers, so it is applied
    assert as_dict(read_table(path, SCHEMA))["3"] == 33


def test_recent_rows_come_from_the_end_of_the_base_and_from_deltas(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    base = pa.Table.from_pylist(
        [
            {
                "integration_id": "a",
                "id": str(n),
                "v": 0,
                "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
            }
            for n in range(3)
        ]
        + [  # older rows enough for the changes below to land as deltas
            {
                "integration_id": "a",
                "id": f"x{n}",
                "v": 0,
                "updated_at": datetime(2025, 1, 1, tzinfo=UTC),
            }
            for n in range(20)
        ]
        + [
            {
                "integration_id": "a",
                "id": "9",
                "v": 0,
                "updated_at": datetime(2026, 3, 1, tzinfo=UTC),
            }
        ],
        schema=pa.schema([*SCHEMA, pa.field("updated_at", pa.timestamp("us", tz="UTC"))]),
    )
    schema = base.schema
    land_changes(path, schema=schema, key=KEY, upserts=base, sort_by="updated_at")
    since = datetime(2026, 2, 1, tzinfo=UTC)
    # A newer version of an old record, still older than `since`: not a recent row.
    old_change = base.slice(0, 1).set_column(2, "v", pa.array([5]))
    land_changes(path, schema=schema, key=KEY, upserts=old_change)
    # A record changed recently (its newer version in a delta).
    new_change = base.slice(1, 1).set_column(2, "v", pa.array([6]))
    new_change = new_change.set_column(
        3, "updated_at", pa.array([datetime(2026, 3, 2, tzinfo=UTC)])
    )
    land_changes(path, schema=schema, key=KEY, upserts=new_change)
    recent = read_recent(path, schema, column="updated_at", since=since)
    assert sorted(recent.column("id").to_pylist()) == ["1", "9"]  # a delta row, a base row
    assert recent.sort_by("id").column("v").to_pylist() == [6, 0]
    assert same_rows(recent, read_table(path, schema), KEY).to_pylist() == [True, True]
    changed = recent.set_column(2, "v", pa.array([7, 7]))
    assert same_rows(changed, read_table(path, schema), KEY).to_pylist() == [False, False]
    # The delta holding only the older row is not read at all; a deletion always is.
    deltas = [p for _, p in warehouse.delta_paths(path)]
    assert [warehouse._may_hold(p, "updated_at", since) for p in deltas] == [False, True]
    land_changes(
        path,
        schema=schema,
        key=KEY,
        upserts=schema.empty_table(),
        deletes=pa.table({"integration_id": ["a"], "id": ["9"]}),
    )
    assert warehouse._may_hold(warehouse.delta_paths(path)[-1][1], "updated_at", since)
    assert read_recent(path, schema, column="updated_at", since=since).column("id").to_pylist() == [
        "1"
    ]


def test_a_reader_racing_a_compaction_reads_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.parquet"
    land(path, many(10))
    land(path, rows(("a", "1", 1)), deletes=["2"])
    expected = as_dict(read_table(path, SCHEMA))
    real = warehouse._read_file
    raced: list[Path] = []

    def racing(file: Path) -> pa.Table:
        if ".delta-" in file.name and not raced:
            raced.append(file)  # a compaction runs between listing and reading the delta
            write_table_atomically(path, read_table(path, SCHEMA))
        return real(file)

    monkeypatch.setattr(warehouse, "_read_file", racing)
    assert as_dict(read_table(path, SCHEMA)) == expected
    assert raced
    assert table_files(path) == [path]


def test_a_read_filtered_by_key_columns_applies_the_matching_deltas_only(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    land(path, rows(*(("a", str(n), 0) for n in range(50)), *(("b", str(n), 0) for n in range(50))))
    # The same ids under both integrations: b's delta must neither replace nor delete a's rows.
    land_changes(
        path,
        schema=SCHEMA,
        key=KEY,
        upserts=rows(("b", "1", 11), ("b", "60", 60)),
        deletes=pa.table({"integration_id": ["b"], "id": ["2"]}),
    )
    assert land(path, rows(("a", "3", 33))) == "delta"
    only_a = read_table(path, SCHEMA, where={"integration_id": "a"})
    assert set(only_a.column("integration_id").to_pylist()) == {"a"}
    assert as_dict(only_a) == {str(n): 0 for n in range(50)} | {"3": 33}
    only_b = read_table(path, SCHEMA, where={"integration_id": "b"})
    expected_b = {str(n): 0 for n in range(50) if n != 2} | {"1": 11, "60": 60}
    assert as_dict(only_b) == expected_b
    assert read_table(path, SCHEMA, where={"integration_id": "c"}).num_rows == 0
    everything = read_table(path, SCHEMA)
    assert everything.num_rows == only_a.num_rows + only_b.num_rows
    with pytest.raises(ValueError, match="key columns only"):
        read_table(path, SCHEMA, where={"v": "0"})  # a delta may change a non-key column


def test_key_membership_joins_the_key_only_where_the_id_matches() -> None:
    table = rows(("a", "1", 0), ("b", "1", 0), ("a", "2", 0), ("b", "3", 0))
    other = rows(("b", "1", 9), ("a", "2", 9), ("c", "3", 9))
    assert warehouse.keys_in(table, other, KEY).to_pylist() == [False, True, True, False]
    assert warehouse.keys_in(table, other, ("id",)).to_pylist() == [True, True, True, True]
    assert warehouse.keys_in(table, SCHEMA.empty_table(), KEY).to_pylist() == [False] * 4
    unique = rows(("a", "1", 0), ("b", "1", 1))  # an id twice, under two integrations
    assert warehouse.dedupe_last(unique, KEY).num_rows == 2
    assert warehouse.dedupe_last(rows(("a", "1", 0), ("a", "1", 1)), KEY).to_pylist() == [
        {"integration_id": "a", "id": "1", "v": 1}
    ]


def test_a_read_without_decoding_keeps_dictionary_columns_and_the_same_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.parquet"
    land(path, rows(*(("a", str(n), 0) for n in range(40)), *(("b", str(n), 0) for n in range(40))))
    land(path, rows(("a", "1", 11), ("a", "99", 99)), deletes=["2"])
    decoded = read_table(path, SCHEMA, where={"integration_id": "a"})
    encoded = read_table(path, SCHEMA, where={"integration_id": "a"}, decode=False)
    # integration_id is stored as a dictionary and stays one; the other columns are decoded.
    assert pa.types.is_dictionary(encoded.schema.field("integration_id").type)
    assert encoded.schema.field("id").type == pa.string()
    assert as_dict(encoded) == as_dict(decoded)
    assert encoded.column("integration_id").cast(pa.string()).to_pylist() == ["a"] * 40
    # Decoded, it is the schema's table again.
    assert warehouse.conform(encoded, SCHEMA).schema == decoded.schema


def test_rows_in_tests_dictionary_columns_on_their_values() -> None:
    plain = pa.chunked_array([pa.array(["x", "y", "x"]), pa.array(["z"])])
    encoded = pa.chunked_array([chunk.dictionary_encode() for chunk in plain.chunks])
    for column in (plain, encoded):
        assert warehouse.rows_in(column, ["x", "y", "z"]) is None  # every row: no mask
        mask = warehouse.rows_in(column, ["x"])
        assert mask is not None
        assert mask.to_pylist() == [True, False, True, False]
        none = warehouse.rows_in(column, ["nope"])
        assert none is not None
        assert none.to_pylist() == [False] * 4
    # A dictionary may list values no row uses: every row still counts as every row.
    stale = pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array(["x", "gone"]))
    assert warehouse.rows_in(pa.chunked_array([stale]), ["x"]) is None


def test_files_are_written_with_lz4_and_older_snappy_files_still_read(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    land(path, many(10))
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "LZ4"
    old = tmp_path / "old.parquet"
    pq.write_table(many(5, 7), old, compression="snappy")  # as landed before 2026-11-27
    assert as_dict(read_table(old, SCHEMA)) == {str(n): 7 for n in range(5)}
