"""A small dbt-like runner for ``dbt_like_sql/``: models, ``ref()`` lineage, DuckDB, unit tests.

A model is one ``.sql`` file (a single ``select``) with a ``.yml`` beside it stating its grain
and carrying given/expect unit tests. Templates understand three calls:

- ``{{ ref('model') }}``: another model's output (this is what makes the DAG);
- ``{{ source('jira', 'issues') }}``: a landed table, supplied by the caller as Arrow;
- ``{{ var('as_of_at') }}``: a run variable, rendered as a SQL literal.

:func:`run_project` runs models in dependency order on one DuckDB connection (in memory, one per
run: DuckDB allows one writer per database file, so nothing is shared between runs) and returns
their outputs as Arrow tables. :func:`run_unit_test` runs one model over the rows a test gives
(typed like the real inputs) and compares its output with the rows the test expects.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_like_sql"
_CALL = re.compile(r"\{\{\s*(ref|source|var)\s*\(([^)]*)\)\s*\}\}")
_ARG = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)")\s*(?:,|$)""")

SourceKey = tuple[str, str]


class SqlModelError(Exception):
    """A model cannot be parsed, resolved or run."""


def _args(text: str) -> list[str]:
    args: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _ARG.match(text, position)
        if match is None:
            raise SqlModelError(f"cannot read the arguments {text!r}")
        args.append(match.group(1) if match.group(1) is not None else match.group(2))
        position = match.end()
    return args


def source_relation(source: str, table: str) -> str:
    return f"source__{source}__{table}"


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Given:
    """Rows a unit test gives for one input: ``ref('model')`` or ``source('a', 'b')``."""

    ref: str | None
    source: SourceKey | None
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class UnitTest:
    name: str
    model: str
    given: tuple[Given, ...]
    expect: tuple[dict[str, Any], ...]
    vars: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    sql: str
    refs: tuple[str, ...]
    sources: tuple[SourceKey, ...]
    variables: tuple[str, ...]
    layer: str  # "staging" or "marts"
    group: str  # the source folder of a staging model, else the layer
    description: str
    grain: str
    columns: tuple[str, ...]
    unit_tests: tuple[UnitTest, ...]

    def render(self, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            kind, args = match.group(1), _args(match.group(2))
            if kind == "ref":
                return f'"{args[0]}"'
            if kind == "source":
                return f'"{source_relation(args[0], args[1])}"'
            if args[0] not in variables:
                raise SqlModelError(f"model {self.name} needs the variable {args[0]!r}")
            return sql_literal(variables[args[0]])

        return _CALL.sub(replace, self.sql)


def _given(entry: Mapping[str, Any]) -> Given:
    text = str(entry["input"]).strip()
    match = re.fullmatch(r"(ref|source)\((.*)\)", text)
    if match is None:
        raise SqlModelError(f"unit test input {text!r} must be ref('...') or source('...', '...')")
    args = _args(match.group(2))
    rows = tuple(dict(row) for row in entry.get("rows") or [])
    if match.group(1) == "ref":
        return Given(ref=args[0], source=None, rows=rows)
    return Given(ref=None, source=(args[0], args[1]), rows=rows)


def load_model(sql_path: Path, root: Path) -> Model:
    name = sql_path.stem
    sql = sql_path.read_text(encoding="utf-8")
    refs: list[str] = []
    sources: list[SourceKey] = []
    variables: list[str] = []
    for match in _CALL.finditer(sql):
        args = _args(match.group(2))
        if match.group(1) == "ref":
            refs.append(args[0])
        elif match.group(1) == "source":
            sources.append((args[0], args[1]))
        else:
            variables.append(args[0])
    yml_path = sql_path.with_suffix(".yml")
    if not yml_path.exists():
        raise SqlModelError(f"{sql_path.relative_to(root)} has no .yml beside it")
    spec = yaml.safe_load(yml_path.read_text(encoding="utf-8")) or {}
    entries = [m for m in spec.get("models") or [] if m.get("name") == name]
    if not entries:
        raise SqlModelError(f"{yml_path.relative_to(root)} does not describe the model {name}")
    entry = entries[0]
    grain = str(entry.get("grain") or "").strip()
    if not grain:
        raise SqlModelError(f"{yml_path.relative_to(root)} states no grain for {name}")
    tests = tuple(
        UnitTest(
            name=str(t["name"]),
            model=str(t.get("model", name)),
            given=tuple(_given(g) for g in t.get("given") or []),
            expect=tuple(dict(r) for r in (t.get("expect") or {}).get("rows") or []),
            vars=dict(t.get("vars") or {}),
            description=str(t.get("description") or ""),
        )
        for t in spec.get("unit_tests") or []
    )
    for test in tests:
        if test.model != name:
            raise SqlModelError(f"unit test {test.name} in {yml_path.name} tests another model")
    parts = sql_path.relative_to(root).parts
    layer = parts[0]
    group = parts[1] if layer == "staging" and len(parts) > 2 else layer
    return Model(
        name=name,
        path=sql_path,
        sql=sql,
        refs=tuple(dict.fromkeys(refs)),
        sources=tuple(dict.fromkeys(sources)),
        variables=tuple(dict.fromkeys(variables)),
        layer=layer,
        group=group,
        description=str(entry.get("description") or "").strip(),
        grain=grain,
        columns=tuple(str(c["name"]) for c in entry.get("columns") or []),
        unit_tests=tests,
    )


@dataclass(frozen=True)
class SqlProject:
    root: Path
    models: dict[str, Model]
    order: tuple[str, ...]  # dependencies first

    @classmethod
    def load(cls, root: Path = PROJECT_DIR) -> SqlProject:
        models: dict[str, Model] = {}
        for sql_path in sorted(root.rglob("*.sql")):
            model = load_model(sql_path, root)
            if model.name in models:
                raise SqlModelError(f"two models are named {model.name}")
            models[model.name] = model
        return cls(root=root, models=models, order=_topological(models))

    def upstream(self, names: Iterable[str]) -> list[str]:
        """``names`` and every model they depend on, in run order."""
        wanted: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name in wanted:
                continue
            if name not in self.models:
                raise SqlModelError(f"no model named {name}")
            wanted.add(name)
            stack.extend(self.models[name].refs)
        return [n for n in self.order if n in wanted]

    def downstream(self, name: str) -> list[str]:
        found = {name}
        for other in self.order:
            if found.intersection(self.models[other].refs):
                found.add(other)
        return [n for n in self.order if n in found and n != name]

    @cached_property
    def sources(self) -> tuple[SourceKey, ...]:
        return tuple(dict.fromkeys(s for n in self.order for s in self.models[n].sources))


def _topological(models: Mapping[str, Model]) -> tuple[str, ...]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise SqlModelError("ref() cycle: " + " -> ".join((*path, name)))
        if name not in models:
            raise SqlModelError(f"{path[-1]} refers to the unknown model {name}")
        state[name] = 1
        for ref in models[name].refs:
            visit(ref, (*path, name))
        state[name] = 2
        order.append(name)

    for name in sorted(models):
        visit(name, ())
    return tuple(order)


# -- running -------------------------------------------------------------------------------------


def connect(threads: int = 1) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC with modest resources.

    One thread by default: a run is one tenant's small tables, callers run many tenants in
    their own threads, and DuckDB's worker threads only add scheduling to such queries (about
    a tenth more CPU per run with two).
    """
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {int(threads)}")
    return con


_idle: list[duckdb.DuckDBPyConnection] = []
_idle_lock = threading.Lock()
MAX_IDLE_CONNECTIONS = 32


def _take_connection() -> duckdb.DuckDBPyConnection:
    """An idle in-memory connection, or a new one. Opening one and its first run cost tens of
    milliseconds, and a batch's thread pool lives for one run only, so connections are kept
    for the process, not the thread: one per run at a time, left empty by :func:`run_project`.
    """
    with _idle_lock:
        if _idle:
            return _idle.pop()
    return connect()


def _give_back(con: duckdb.DuckDBPyConnection) -> None:
    with _idle_lock:
        if len(_idle) < MAX_IDLE_CONNECTIONS:
            _idle.append(con)
            return
    con.close()


def _clear(con: duckdb.DuckDBPyConnection, registered: list[str], created: list[str]) -> None:
    for name in created:
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
    for name in registered:
        con.unregister(name)


def run_project(
    project: SqlProject,
    *,
    sources: Mapping[SourceKey, pa.Table],
    variables: Mapping[str, Any],
    select: Sequence[str] | None = None,
    inputs: Mapping[str, pa.Table] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    fetch: Collection[str] | None = None,
    row_counts: dict[str, int] | None = None,
) -> dict[str, pa.Table]:
    """Run ``select`` (default: every model) and whatever they need, on in-memory DuckDB.

    ``inputs`` are outputs of models computed before (e.g. read back from Parquet); those models
    are not run again. Returns the output of every model that ran, or with ``fetch`` of those
    of them only (reading a model's output back as Arrow costs about a third of running it).
    ``row_counts``, if given, receives every model's row count. Without ``con`` an idle pooled
    in-memory connection is used (one run at a time), and every table and view of the run is
    dropped again before it goes back (success or not): nothing of one run (one tenant)
    survives into the next.
    """
    own = con is None
    con = con or _take_connection()
    registered: list[str] = []
    created: list[str] = []
    reusable = False
    if own:
        # The run's tables live in one transaction that is rolled back at the end: one
        # statement drops them all, and no statement commits on its own.
        con.execute("BEGIN TRANSACTION")
    try:
        given = dict(inputs or {})
        names = project.upstream(select or project.order)
        needed_sources = {s for n in names if n not in given for s in project.models[n].sources}
        for key in needed_sources:
            if key not in sources:
                raise SqlModelError(f"no data supplied for source {key[0]}.{key[1]}")
            con.register(source_relation(*key), sources[key])
            registered.append(source_relation(*key))
        for name, table in given.items():
            con.register(name, table)
            registered.append(name)
        outputs: dict[str, pa.Table] = {}
        for name in names:
            if name in given:
                continue
            model = project.models[name]
            try:
                created.append(name)
                # CREATE TABLE AS answers the number of rows it wrote.
                written = con.execute(f'CREATE TABLE "{name}" AS {model.render(variables)}')
                count = written.fetchone()
            except duckdb.Error as exc:
                raise SqlModelError(f"model {name} failed: {exc}") from exc
            if row_counts is not None:
                row_counts[name] = int(count[0]) if count else 0
            if fetch is None or name in fetch:
                outputs[name] = con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
        return outputs
    finally:
        if own:
            try:
                con.execute("ROLLBACK")
                _clear(con, registered, [])
                reusable = True
            finally:
                # A connection that could not be emptied is not used again.
                if reusable:
                    _give_back(con)
                else:
                    con.close()
        else:
            _clear(con, registered, created)


def output_schemas(
    project: SqlProject, source_schemas: Mapping[SourceKey, pa.Schema], variables: Mapping[str, Any]
) -> dict[str, pa.Schema]:
    """Every model's output schema, found by running the project on empty inputs."""
    empty = {key: schema.empty_table() for key, schema in source_schemas.items()}
    outputs = run_project(project, sources=empty, variables=variables)
    return {name: table.schema for name, table in outputs.items()}


# -- unit tests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitTestResult:
    model: str
    name: str
    passed: bool
    message: str = ""


def coerce(value: Any, kind: pa.DataType) -> Any:
    """A YAML value as Arrow expects it for ``kind`` (dates and times from ISO strings)."""
    if value is None:
        return None
    if pa.types.is_timestamp(kind) and isinstance(value, str):
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind.tz is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        if kind.tz is None and moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment
    if pa.types.is_timestamp(kind) and isinstance(value, dt.datetime):
        if kind.tz is None and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if pa.types.is_date(kind) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if pa.types.is_map(kind) and isinstance(value, Mapping):
        return [(str(k), coerce(v, kind.item_type)) for k, v in value.items()]
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and isinstance(value, list):
        return [coerce(v, kind.value_type) for v in value]
    if pa.types.is_floating(kind) and isinstance(value, int | str):
        return float(value)
    if pa.types.is_string(kind) and not isinstance(value, str):
        return str(value)
    return value


def rows_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    unknown = {k for row in rows for k in row} - set(schema.names)
    if unknown:
        raise SqlModelError(f"given rows name unknown columns: {', '.join(sorted(unknown))}")
    coerced = [{f.name: coerce(row.get(f.name), f.type) for f in schema} for row in rows]
    return pa.Table.from_pylist(coerced, schema=schema)


def normalise(value: Any) -> Any:
    """A comparable form: times as ISO text (UTC), numbers rounded, lists recursively."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        return round(float(value), 6)
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): normalise(v) for k, v in value.items()}
    return value


def run_unit_test(
    project: SqlProject,
    test: UnitTest,
    *,
    schemas: Mapping[str, pa.Schema],
    source_schemas: Mapping[SourceKey, pa.Schema],
) -> UnitTestResult:
    """Run ``test.model`` over the given rows only and compare with the expected rows: each
    expected row must match one output row on the columns it names, and no row may be left."""
    model = project.models[test.model]
    sources = {key: schema.empty_table() for key, schema in source_schemas.items()}
    inputs = {ref: schemas[ref].empty_table() for ref in model.refs}
    try:
        for given in test.given:
            if given.ref is not None:
                if given.ref not in model.refs:
                    raise SqlModelError(f"{model.name} does not ref('{given.ref}')")
                inputs[given.ref] = rows_table(given.rows, schemas[given.ref])
            elif given.source is not None:
                if given.source not in source_schemas:
                    raise SqlModelError(f"unknown source {given.source}")
                sources[given.source] = rows_table(given.rows, source_schemas[given.source])
        outputs = run_project(
            project, sources=sources, variables=test.vars, select=[model.name], inputs=inputs
        )
    except SqlModelError as exc:
        return UnitTestResult(model.name, test.name, False, str(exc))
    actual = outputs[model.name].to_pylist()
    columns = list(dict.fromkeys(c for row in test.expect for c in row))
    missing = [c for c in columns if c not in outputs[model.name].column_names]
    if missing:
        return UnitTestResult(
            model.name, test.name, False, f"output has no column(s) {', '.join(missing)}"
        )
    schema = outputs[model.name].schema
    remaining = [{c: normalise(v) for c, v in row.items()} for row in actual]
    unmatched: list[dict[str, Any]] = []
    for row in test.expect:
        want = {c: normalise(coerce(v, schema.field(c).type)) for c, v in row.items()}
        match = next(
            (i for i, got in enumerate(remaining) if all(got[c] == v for c, v in want.items())),
            None,
        )
        if match is None:
            unmatched.append(want)
        else:
            remaining.pop(match)
    if not unmatched and not remaining:
        return UnitTestResult(model.name, test.name, True)
    shown = [{c: r[c] for c in columns} for r in remaining]
    return UnitTestResult(
        model.name,
        test.name,
        False,
        f"expected rows not found: {unmatched}\nunexpected rows (expected columns): {shown}",
    )


def run_unit_tests(
    project: SqlProject,
    *,
    source_schemas: Mapping[SourceKey, pa.Schema],
    variables: Mapping[str, Any],
) -> list[UnitTestResult]:
    schemas = output_schemas(project, source_schemas, variables)
    return [
        run_unit_test(project, test, schemas=schemas, source_schemas=source_schemas)
        for name in project.order
        for test in project.models[name].unit_tests
    ]
