"""The SQL models: every model's .yml unit tests pass, and the runner catches what it should."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from okr_core import sql_models
from okr_core.binding_values import (
    SOURCE_SCHEMAS,
    as_of_variables,
    left_out_models,
    load_project,
)
from okr_core.sql_models import (
    SqlModelError,
    SqlProject,
    UnitTest,
    output_schemas,
    run_project,
    run_unit_test,
    run_unit_tests,
)

PROJECT = load_project()
SCHEMAS = output_schemas(PROJECT, SOURCE_SCHEMAS, as_of_variables(datetime.now(UTC)))
UNIT_TESTS = [t for name in PROJECT.order for t in PROJECT.models[name].unit_tests]


@pytest.mark.parametrize("test", UNIT_TESTS, ids=lambda t: f"{t.model}:{t.name}")
def test_model_unit_test(test: UnitTest) -> None:
    result = run_unit_test(PROJECT, test, schemas=SCHEMAS, source_schemas=SOURCE_SCHEMAS)
    assert result.passed, result.message


def test_every_model_states_its_grain_and_has_unit_tests() -> None:
    for model in PROJECT.models.values():
        assert model.grain, model.name
        assert model.unit_tests, f"{model.name} has no unit tests"
        assert model.description, model.name


def test_staging_reads_sources_and_marts_read_refs() -> None:
    for model in PROJECT.models.values():
        if model.layer == "staging":
            assert model.sources, model.name
            assert not model.refs, model.name
            assert model.name.startswith(f"stg_{model.group}__"), model.name
        else:
            assert model.refs, model.name
            assert not model.sources, model.name


def test_lineage_runs_from_staging_to_the_values_mart() -> None:
    assert PROJECT.upstream(["kr_daily_values"]) == list(PROJECT.order)
    assert set(PROJECT.models["kr_daily_values"].refs) == {
        "stg_app__kr_bindings",
        "binding_days",
        "binding_records",
    }
    assert "kr_daily_values" in PROJECT.downstream("stg_jira__issues")


def write_model(root: Path, path: str, sql: str, yml: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(sql)
    target.with_suffix(".yml").write_text(yml)


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    write_model(
        tmp_path,
        "staging/x/stg_x__rows.sql",
        "select n * 2 as doubled from {{ source('x', 'rows') }}",
        """
models:
  - name: stg_x__rows
    grain: one row per input row
unit_tests:
  - name: doubles
    model: stg_x__rows
    given:
      - input: source('x', 'rows')
        rows: [{n: 1}, {n: 2}]
    expect:
      rows: [{doubled: 2}, {doubled: 5}]
""",
    )
    project = SqlProject.load(tmp_path)
    sources = {("x", "rows"): pa.schema([pa.field("n", pa.int64())])}
    [result] = run_unit_tests(project, source_schemas=sources, variables={})
    assert not result.passed
    assert "doubled" in result.message


def test_ref_cycles_and_missing_yml_are_refused(tmp_path: Path) -> None:
    write_model(
        tmp_path, "marts/a.sql", "select * from {{ ref('b') }}", "models: [{name: a, grain: g}]"
    )
    write_model(
        tmp_path, "marts/b.sql", "select * from {{ ref('a') }}", "models: [{name: b, grain: g}]"
    )
    with pytest.raises(SqlModelError, match="cycle"):
        SqlProject.load(tmp_path)
    (tmp_path / "marts" / "b.yml").unlink()
    with pytest.raises(SqlModelError, match=r"no \.yml"):
        SqlProject.load(tmp_path)


def test_variables_are_rendered_as_literals() -> None:
    outputs = run_project(
        PROJECT,
        sources={key: schema.empty_table() for key, schema in SOURCE_SCHEMAS.items()},
        variables={"as_of_at": "2026-10-01'; drop table x; --"},
        select=["stg_app__kr_bindings"],
    )
    assert outputs["stg_app__kr_bindings"].num_rows == 0
    with pytest.raises(SqlModelError, match=r"binding_days failed"):
        run_project(
            PROJECT,
            sources={key: schema.empty_table() for key, schema in SOURCE_SCHEMAS.items()},
            variables={"as_of_at": "2026-10-01'; drop table x; --"},
            select=["binding_days"],
        )


def test_fetch_returns_only_the_asked_outputs_and_row_counts_cover_every_model() -> None:
    sources = {key: schema.empty_table() for key, schema in SOURCE_SCHEMAS.items()}
    variables = as_of_variables(datetime.now(UTC))
    full = run_project(PROJECT, sources=sources, variables=variables)
    counts: dict[str, int] = {}
    fetched = run_project(
        PROJECT,
        sources=sources,
        variables=variables,
        fetch=["kr_daily_values"],
        row_counts=counts,
    )
    assert set(fetched) == {"kr_daily_values"}
    assert fetched["kr_daily_values"].schema == full["kr_daily_values"].schema
    assert counts == {name: table.num_rows for name, table in full.items()}


def test_left_out_staging_models_are_not_run_and_their_sources_not_needed() -> None:
    bindings = pa.Table.from_pylist(
        [
            {
                "binding_id": "b1",
                "key_result_id": "k1",
                "integration_id": "i1",
                "source": "jira",
                "metric": "jira_issue_count",
                "jql": "project = ENG",
                "field_name": None,
                "repositories": [],
                "whole_history": False,
                "period_start": date(2026, 1, 1),
                "period_end": date(2026, 3, 31),
            }
        ],
        schema=SOURCE_SCHEMAS[("app", "kr_bindings")],
    )
    sources = {
        key: schema.empty_table() for key, schema in SOURCE_SCHEMAS.items() if key[0] != "github"
    }
    sources[("app", "kr_bindings")] = bindings
    variables = as_of_variables(datetime(2026, 1, 10, 12, tzinfo=UTC))
    with pytest.raises(SqlModelError, match=r"github\.pull_requests"):
        run_project(PROJECT, sources=sources, variables=variables)
    counts: dict[str, int] = {}
    outputs = run_project(
        PROJECT,
        sources=sources,
        variables=variables,
        inputs=left_out_models(PROJECT, {"jira"}),
        row_counts=counts,
    )
    assert "stg_github__pull_requests" not in counts
    assert "stg_jira__issues" in counts
    values = outputs["kr_daily_values"]
    assert values.num_rows == 10  # 1-10 January
    assert set(values.column("value").to_pylist()) == {0.0}


def test_a_failed_run_leaves_its_pooled_connection_empty_for_the_next(tmp_path: Path) -> None:
    write_model(
        tmp_path,
        "staging/x/stg_x__one.sql",
        "select 1 as v",
        "models: [{name: stg_x__one, grain: one}]",
    )
    write_model(
        tmp_path,
        "marts/broken.sql",
        "select v / 'x' as w from {{ ref('stg_x__one') }}",
        "models: [{name: broken, grain: one}]",
    )
    project = SqlProject.load(tmp_path)
    with pytest.raises(SqlModelError, match="model broken failed"):
        run_project(project, sources={}, variables={})
    # The next run on this thread takes the same pooled connection: nothing of the failed run
    # is left in it, and it runs.
    outputs = run_project(project, sources={}, variables={}, select=["stg_x__one"])
    assert outputs["stg_x__one"].to_pylist() == [{"v": 1}]
    for con in sql_models._idle:
        assert con.sql("select table_name from information_schema.tables").fetchall() == []
