"""One Dagster asset per SQL model of ``dbt_like_sql/``, partitioned by tenant.

Dependencies come from each model's ``ref()`` calls (and ``source()`` calls: the extract assets
and the app's bindings table), so the lineage raw -> staging -> marts -> key_results/values is
what the UI shows. Materialising a model for a tenant runs it on in-memory DuckDB over that
tenant's files, reading its parents' Parquet outputs, and writes
``warehouse/tenant=<id>/models/<model>.parquet``. Scheduled syncs compute all models in memory
inside the batch run and record a materialization of each per tenant.
"""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
)

from okr_core.binding_values import compute_model, load_project
from okr_core.sql_models import SqlProject
from okr_core.tenancy import tenant_context
from okr_core.warehouse import model_path, write_table_atomically
from okr_pipelines.keys import APP_BINDINGS_KEY, SOURCE_KEYS, model_key
from okr_pipelines.partitions import tenant_partitions
from okr_pipelines.resources import AppDatabase
from okr_pipelines.sources.common import tenant_id_of

app_bindings = AssetSpec(
    key=APP_BINDINGS_KEY,
    group_name="app",
    kinds={"sqlalchemy"},
    description=(
        "The tenant's key-result bindings in the app database (kr_bindings joined with the key "
        "result's period), maintained through the API. Grain: one row per binding."
    ),
)


def model_deps(project: SqlProject, name: str) -> list[AssetKey]:
    model = project.models[name]
    keys = [model_key(project, ref) for ref in model.refs]
    keys += [SOURCE_KEYS[source] for source in model.sources]
    return list(dict.fromkeys(keys))


def build_model_asset(project: SqlProject, name: str) -> AssetsDefinition:
    model = project.models[name]

    @asset(
        key=model_key(project, name),
        deps=model_deps(project, name),
        group_name=model.group if model.layer == "staging" else "marts",
        partitions_def=tenant_partitions,
        kinds={"duckdb", "sql", "parquet"},
        description=f"{model.description}\n\nGrain: {model.grain}.",
        metadata={
            "sql_path": MetadataValue.path(str(model.path.relative_to(project.root.parent))),
            "grain": model.grain,
        },
        owners=["team:data-platform"],
    )
    def _model(context: AssetExecutionContext, app_db: AppDatabase) -> MaterializeResult[None]:
        tenant_id = tenant_id_of(context.partition_key)
        warehouse_dir = app_db.settings.warehouse_dir
        with app_db.session() as session, tenant_context(session, tenant_id):
            table = compute_model(
                session, warehouse_dir=warehouse_dir, model=name, as_of=datetime.now(UTC)
            )
        path = model_path(warehouse_dir, tenant_id, name)
        write_table_atomically(path, table)
        return MaterializeResult(
            metadata={"dagster/row_count": table.num_rows, "path": MetadataValue.path(str(path))}
        )

    return _model


def build_model_assets(project: SqlProject | None = None) -> list[AssetsDefinition]:
    project = project or load_project()
    return [build_model_asset(project, name) for name in project.order]
