"""From landed records to one value per bound key result per day, through the SQL models.

Inputs of the models (``source()`` in ``dbt_like_sql``):

- ``jira.issues``, ``jira.binding_issues``, ``github.pull_requests``: one tenant's Parquet files;
- ``app.kr_bindings``: that tenant's bindings with their key results' periods, built here from
  the app database (or, for a preview, from the binding being edited).

The one variable is ``as_of_at`` (UTC): the moment the values are computed for. The mart
``kr_daily_values`` holds one row per binding per day of its key result's period up to
``as_of_at``; ``binding_records`` the records behind each binding (for samples and lineage).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.models import (
    Integration,
    KeyResult,
    KeyResultStatus,
    KrBinding,
    Metric,
    Objective,
)
from okr_core.models.kr_binding import METRIC_SOURCE
from okr_core.sources.errors import PermanentSourceError
from okr_core.sources.github.client import normalise_repositories
from okr_core.sql_models import PROJECT_DIR, SourceKey, SqlProject, output_schemas, run_project
from okr_core.tenancy import require_tenant
from okr_core.warehouse import (
    GITHUB_PULL_REQUESTS,
    JIRA_BINDING_ISSUES,
    JIRA_ISSUES,
    model_path,
    read_table,
)

VALUES_MODEL = "kr_daily_values"
RECORDS_MODEL = "binding_records"
DEFAULT_SUM_FIELD = "story_points"

KR_BINDINGS_SCHEMA = pa.schema(
    [
        pa.field("binding_id", pa.string(), nullable=False),
        pa.field("key_result_id", pa.string(), nullable=False),
        pa.field("integration_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("jql", pa.string()),
        pa.field("field_name", pa.string()),
        pa.field("repositories", pa.list_(pa.string())),
        pa.field("whole_history", pa.bool_()),
        pa.field("period_start", pa.date32()),
        pa.field("period_end", pa.date32()),
    ]
)

SOURCE_SCHEMAS: dict[SourceKey, pa.Schema] = {
    ("jira", "issues"): JIRA_ISSUES.schema,
    ("jira", "binding_issues"): JIRA_BINDING_ISSUES.schema,
    ("github", "pull_requests"): GITHUB_PULL_REQUESTS.schema,
    ("app", "kr_bindings"): KR_BINDINGS_SCHEMA,
}


@lru_cache(maxsize=4)
def load_project(root: Path = PROJECT_DIR) -> SqlProject:
    return SqlProject.load(root)


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """A binding as the models see it: what to count, where, over which period."""

    binding_id: str
    key_result_id: str
    integration_id: str
    source: str
    metric: Metric
    jql: str | None
    field_name: str | None
    repositories: tuple[str, ...]
    whole_history: bool
    period_start: date
    period_end: date

    @property
    def query(self) -> str:
        """The query as an admin reads it in lineage: the JQL, or a GitHub search string."""
        if self.source == "jira":
            text = self.jql or ""
            if self.metric is Metric.jira_field_sum:
                text += f"  [sum of {self.field_name}]"
            return text
        repos = " ".join(f"repo:{r}" for r in self.repositories)
        qualifier = {
            Metric.github_merged_prs: "is:merged",
            Metric.github_merge_rate: "is:closed",
            Metric.github_median_hours_to_merge: "is:merged",
        }.get(self.metric, "")
        return f"is:pr {qualifier} {repos}".replace("  ", " ").strip()

    def row(self) -> dict[str, Any]:
        return {
            "binding_id": self.binding_id,
            "key_result_id": self.key_result_id,
            "integration_id": self.integration_id,
            "source": self.source,
            "metric": self.metric.value,
            "jql": self.jql,
            "field_name": self.field_name,
            "repositories": list(self.repositories),
            "whole_history": self.whole_history,
            "period_start": self.period_start,
            "period_end": self.period_end,
        }


def make_spec(
    *,
    binding_id: uuid.UUID | str,
    key_result: KeyResult,
    objective: Objective,
    integration: Integration,
    metric: Metric | str,
    parameters: Mapping[str, Any],
    whole_history: bool,
) -> BindingSpec:
    """Validate a binding's parameters against its metric and integration."""
    metric = Metric(metric)
    source = METRIC_SOURCE[metric]
    if integration.source != source:
        raise PermanentSourceError(
            f"the metric {metric.value} needs a {source} integration, not {integration.source}"
        )
    jql: str | None = None
    field_name: str | None = None
    repositories: tuple[str, ...] = ()
    if source == "jira":
        jql = str(parameters.get("jql") or "").strip()
        if not jql:
            raise PermanentSourceError("a Jira binding needs a JQL query, e.g. project = ENG")
        if metric is Metric.jira_field_sum:
            field_name = str(parameters.get("field") or DEFAULT_SUM_FIELD).strip()
    else:
        raw = parameters.get("repositories") or parameters.get("repository") or []
        repositories = tuple(normalise_repositories(raw))
        if not repositories:
            raise PermanentSourceError("a GitHub binding needs at least one owner/name repository")
    return BindingSpec(
        binding_id=str(binding_id),
        key_result_id=str(key_result.id),
        integration_id=str(integration.id),
        source=source,
        metric=metric,
        jql=jql,
        field_name=field_name,
        repositories=repositories,
        whole_history=bool(whole_history),
        period_start=objective.period_start,
        period_end=objective.period_end,
    )


def tenant_specs(
    session: Session,
    *,
    integration_ids: Iterable[uuid.UUID] | None = None,
    binding_ids: Iterable[uuid.UUID] | None = None,
    synced_only: bool = False,
) -> list[BindingSpec]:
    """The bindings of the session's tenant (optionally of some integrations), as specs.

    Bindings of archived key results are left out; a binding whose parameters are invalid is
    skipped here (its sync reports the problem). ``synced_only`` keeps only bindings whose
    integration has synced successfully at least once: before that there is no data, and a
    value computed from nothing would be a made-up zero.
    """
    stmt = (
        select(KrBinding, KeyResult, Objective, Integration)
        .join(KeyResult, KeyResult.id == KrBinding.key_result_id)
        .join(Objective, Objective.id == KeyResult.objective_id)
        .join(Integration, Integration.id == KrBinding.integration_id)
        .where(KeyResult.status == KeyResultStatus.active)
        .order_by(KrBinding.created_at, KrBinding.id)
    )
    if synced_only:
        stmt = stmt.where(Integration.last_success_at.is_not(None))
    if integration_ids is not None:
        stmt = stmt.where(KrBinding.integration_id.in_(list(integration_ids)))
    if binding_ids is not None:
        stmt = stmt.where(KrBinding.id.in_(list(binding_ids)))
    specs: list[BindingSpec] = []
    for binding, kr, objective, integration in session.execute(stmt).all():
        try:
            specs.append(
                make_spec(
                    binding_id=binding.id,
                    key_result=kr,
                    objective=objective,
                    integration=integration,
                    metric=binding.metric,
                    parameters=binding.parameters or {},
                    whole_history=binding.whole_history,
                )
            )
        except PermanentSourceError:
            continue
    return specs


def bindings_table(specs: Sequence[BindingSpec]) -> pa.Table:
    return pa.Table.from_pylist([s.row() for s in specs], schema=KR_BINDINGS_SCHEMA)


LANDED_TABLES = (JIRA_ISSUES, JIRA_BINDING_ISSUES, GITHUB_PULL_REQUESTS)


def warehouse_sources(
    warehouse_dir: Path, tenant_id: uuid.UUID, *, only: Collection[str] | None = None
) -> dict[SourceKey, pa.Table]:
    """One tenant's landed tables (empty where nothing has landed yet); with ``only``, the
    tables of those sources (``jira``, ``github``) alone."""
    return {
        (table.source, table.entity): read_table(table.path(warehouse_dir, tenant_id), table.schema)
        for table in LANDED_TABLES
        if only is None or table.source in only
    }


_schemas_lock = threading.Lock()
_schemas: dict[int, tuple[SqlProject, dict[str, pa.Schema]]] = {}


def model_schemas(project: SqlProject) -> dict[str, pa.Schema]:
    """Every model's output schema (found once per project, by running it on empty inputs)."""
    with _schemas_lock:
        found = _schemas.get(id(project))
        if found is None or found[0] is not project:
            variables = as_of_variables(datetime(2000, 1, 1, tzinfo=UTC))
            found = (project, output_schemas(project, SOURCE_SCHEMAS, variables))
            _schemas[id(project)] = found
        return found[1]


def left_out_models(project: SqlProject, sources: Collection[str]) -> dict[str, pa.Table]:
    """Empty outputs for the staging models of the landed sources not in ``sources``: given to
    :func:`run_project` as inputs, they are not run and their landed tables are not read."""
    landed = {table.source for table in LANDED_TABLES}
    schemas = model_schemas(project)
    return {
        name: schemas[name].empty_table()
        for name, model in project.models.items()
        if model.layer == "staging" and model.group in landed and model.group not in sources
    }


def as_of_variables(as_of: datetime) -> dict[str, Any]:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    return {"as_of_at": as_of.astimezone(UTC)}


def compute(
    *,
    sources: Mapping[SourceKey, pa.Table],
    specs: Sequence[BindingSpec],
    as_of: datetime,
    project: SqlProject | None = None,
    select_models: Sequence[str] | None = None,
    only_sources: Collection[str] | None = None,
    fetch: Collection[str] | None = None,
    row_counts: dict[str, int] | None = None,
) -> dict[str, pa.Table]:
    """Run the SQL models over ``sources`` for ``specs``; every model's output by name.

    With ``only_sources`` (e.g. ``{"jira"}`` when every spec is a Jira binding) the staging
    models of the other landed sources are not run: they are given as empty relations, so
    ``sources`` need not hold their tables, and they are missing from the outputs.
    ``fetch`` and ``row_counts``: as for :func:`okr_core.sql_models.run_project`.
    """
    project = project or load_project()
    inputs = dict(sources)
    inputs[("app", "kr_bindings")] = bindings_table(specs)
    return run_project(
        project,
        sources=inputs,
        variables=as_of_variables(as_of),
        select=select_models,
        inputs=None if only_sources is None else left_out_models(project, only_sources),
        fetch=fetch,
        row_counts=row_counts,
    )


def compute_model(
    session: Session,
    *,
    warehouse_dir: Path,
    model: str,
    as_of: datetime,
    project: SqlProject | None = None,
) -> pa.Table:
    """One model's output for the session's tenant, as its own Dagster asset computes it.

    The model reads its direct ``ref()`` inputs from their materialised Parquet outputs
    (``warehouse/tenant=<id>/models/``) where they exist, exactly as a dbt model reads its
    parents' tables; parents never materialised are computed in memory first.
    """
    project = project or load_project()
    tenant_id = require_tenant(session)
    sources = warehouse_sources(warehouse_dir, tenant_id)
    sources[("app", "kr_bindings")] = bindings_table(tenant_specs(session, synced_only=True))
    inputs = {}
    for ref in project.models[model].refs:
        path = model_path(warehouse_dir, tenant_id, ref)
        if path.exists():
            inputs[ref] = pq.read_table(path)
    outputs = run_project(
        project,
        sources=sources,
        variables=as_of_variables(as_of),
        select=[model],
        inputs=inputs,
    )
    return outputs[model]
