"""A batch of tenants: values recomputed only when their inputs changed, tenants isolated."""

from __future__ import annotations

from okr_core.models import Metric, SyncTrigger
from okr_core.sync_runner import BatchItem, TenantOutcome, run_batch, sync_tenant
from okr_sandboxes import JiraSandbox
from tests.okr_core.test_extraction import World, jira_sandbox, setup_jira, world

__all__ = ["jira_sandbox", "world"]  # fixtures shared with the extraction tests


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
