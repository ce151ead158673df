"""A batch of tenants: values recomputed only when their inputs changed, tenants isolated."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from okr_core.binding_values import (
    VALUES_MODEL,
    compute,
    tenant_specs,
    warehouse_sources,
)
from okr_core.db.engine import unit_of_work
from okr_core.models import AuditEvent, CheckIn, KeyResult, Metric, SyncTrigger
from okr_core.sync_runner import (
    BatchItem,
    TenantOutcome,
    inputs_fingerprint,
    run_batch,
    sync_tenant,
)
from okr_core.tenancy import tenant_context
from okr_core.warehouse import JIRA_ISSUES, model_path, table_files
from okr_sandboxes import GitHubSandbox, JiraSandbox
from tests.okr_core.sources import support
from tests.okr_core.test_extraction import (
    World,
    github_sandbox,
    issue_rows,
    jira_sandbox,
    setup_jira,
    world,
)

__all__ = ["github_sandbox", "jira_sandbox", "world"]  # fixtures shared with extraction tests


def sync(world: World, *integration_ids: uuid.UUID) -> TenantOutcome:
    return sync_tenant(
        world.factory,
        tenant_id=world.tenant_id,
        items=[BatchItem(world.tenant_id, i) for i in integration_ids],
        cipher=world.cipher,
        warehouse_dir=world.warehouse,
        trigger=SyncTrigger.schedule,
    )


def test_values_are_recomputed_only_when_their_inputs_change(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))

    def once() -> TenantOutcome:
        return sync_tenant(
            world.factory,
            tenant_id=world.tenant_id,
            items=[BatchItem(world.tenant_id, integration_id)],
            cipher=world.cipher,
            warehouse_dir=world.warehouse,
            trigger=SyncTrigger.schedule,
        )

    first = once()
    assert first.values is not None
    assert not first.values_unchanged
    second = once()
    assert second.values_unchanged
    jira_sandbox.add_issues(1, project="ENG")
    third = once()
    assert not third.values_unchanged
    assert third.values is not None


def test_an_empty_batch_yields_nothing(world: World) -> None:
    assert (
        list(
            run_batch(
                world.factory,
                items=[],
                cipher=world.cipher,
                warehouse_dir=world.warehouse,
                trigger=SyncTrigger.schedule,
            )
        )
        == []
    )


def setup_github(world: World, sandbox: GitHubSandbox, title: str) -> uuid.UUID:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        integration = support.github_integration(session, sandbox, cipher=world.cipher)
        kr = support.create_key_result(session, title=title)
        support.bind(
            session,
            key_result=kr,
            integration=integration,
            metric=Metric.github_merged_prs,
            repositories=[f"{sandbox.owner}/api"],
        )
        return integration.id


def check_ins_of(world: World, title: str) -> list[tuple[Any, ...]]:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        kr = session.scalars(select(KeyResult).where(KeyResult.title == title)).one()
        rows = session.execute(
            select(
                CheckIn.id,
                CheckIn.value,
                CheckIn.checked_at,
                CheckIn.source_ref,
                CheckIn.archived_at,
            )
            .where(CheckIn.key_result_id == kr.id)
            .order_by(CheckIn.checked_at, CheckIn.id)
        )
        return [tuple(row) for row in rows]


def current_value(world: World, title: str) -> float | None:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        kr = session.scalars(select(KeyResult).where(KeyResult.title == title)).one()
        return kr.current_value


def audit_count(world: World) -> int:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        return len(list(session.scalars(select(AuditEvent.id))))


def rows_of(table: pa.Table, binding_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = [r for r in table.to_pylist() if r["binding_id"] in binding_ids]
    return sorted(rows, key=lambda r: (r["binding_id"], r["day"]))


def test_a_jira_sync_recomputes_only_jira_bindings_and_leaves_github_untouched(
    world: World, jira_sandbox: JiraSandbox, github_sandbox: GitHubSandbox
) -> None:
    jira_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    github_id = setup_github(world, github_sandbox, "merged")
    both = sync(world, jira_id, github_id)
    assert not both.failed
    assert both.values is not None
    assert {s.source for s in both.values.specs} == {"jira", "github"}
    github_before = check_ins_of(world, "merged")
    assert github_before  # the quarter so far is backfilled
    merged_before = current_value(world, "merged")
    eng_before = current_value(world, "eng")
    # A stale materialised mart (as a model asset once wrote it) must not survive new inputs.
    stale = model_path(world.warehouse, world.tenant_id, VALUES_MODEL)
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"stale")

    jira_sandbox.add_issues(3, project="ENG")
    github_sandbox.merge_pull("api", github_sandbox.open_pulls("api", 1)[0]["number"])
    audits = audit_count(world)
    jira_only = sync(world, jira_id)

    assert not jira_only.failed
    assert not jira_only.values_unchanged
    assert jira_only.values is not None
    assert {s.source for s in jira_only.values.specs} == {"jira"}
    # The GitHub staging model did not run; the marts hold the Jira binding's rows only.
    assert set(jira_only.values.row_counts) == {
        "stg_app__kr_bindings",
        "stg_jira__issues",
        "stg_jira__binding_issues",
        "binding_days",
        "binding_records",
        VALUES_MODEL,
    }
    assert jira_only.values.row_count("stg_github__pull_requests") is None
    assert (
        jira_only.values.row_count(VALUES_MODEL) == jira_only.values.outputs[VALUES_MODEL].num_rows
    )
    jira_binding = jira_only.values.specs[0].binding_id
    assert set(jira_only.values.outputs[VALUES_MODEL].column("binding_id").to_pylist()) == {
        jira_binding
    }
    # The GitHub key result's check-ins and value are exactly as they were (its pull request
    # merged meanwhile, but GitHub was not synced), and only the Jira one was audited.
    assert check_ins_of(world, "merged") == github_before
    assert current_value(world, "merged") == merged_before
    assert current_value(world, "eng") == (eng_before or 0) + 3
    assert audit_count(world) == audits + 1
    assert not stale.exists()

    # The pruned run computes the same Jira rows as the whole project over every source.
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        specs = tenant_specs(session, synced_only=True)
    assert jira_only.computed_at is not None
    full = compute(
        sources=warehouse_sources(world.warehouse, world.tenant_id),
        specs=specs,
        as_of=jira_only.computed_at,
    )
    assert rows_of(full[VALUES_MODEL], [jira_binding]) == rows_of(
        jira_only.values.outputs[VALUES_MODEL], [jira_binding]
    )

    # Syncing GitHub now recomputes the GitHub binding alone and keeps the Jira check-ins.
    jira_after = check_ins_of(world, "eng")
    github_only = sync(world, github_id)
    assert github_only.values is not None
    assert {s.source for s in github_only.values.specs} == {"github"}
    assert "stg_jira__issues" not in github_only.values.row_counts
    assert "stg_github__pull_requests" in github_only.values.row_counts
    assert current_value(world, "merged") == (merged_before or 0) + 1
    assert check_ins_of(world, "eng") == jira_after
    # Each integration has its own fingerprint: a quiet Jira re-sync still skips the models.
    assert sync(world, jira_id).values_unchanged


def test_a_delta_file_changes_the_inputs_fingerprint(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    first = sync(world, integration_id)
    assert first.values is not None
    day = datetime.now(UTC).date()
    path = JIRA_ISSUES.path(world.warehouse, world.tenant_id)
    base = path.stat()
    before = inputs_fingerprint(
        world.warehouse, world.tenant_id, first.values.specs, day, source="jira"
    )
    jira_sandbox.update_issue(issue_rows(world)[0]["issue_key"], summary="changed")
    assert world.sync(integration_id).details["issues_landing"] == "delta"
    assert len(table_files(path)) == 2
    # Even with the base file's own stat exactly as before, the delta changes the fingerprint.
    os.utime(path, ns=(base.st_atime_ns, base.st_mtime_ns))
    assert path.stat().st_mtime_ns == base.st_mtime_ns
    assert path.stat().st_size == base.st_size
    after = inputs_fingerprint(
        world.warehouse, world.tenant_id, first.values.specs, day, source="jira"
    )
    assert after != before
