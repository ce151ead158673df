"""``raw/jira/issues``: a tenant's Jira issues, landed as Parquet."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from okr_core.models import Source
from okr_pipelines.keys import RAW_KEYS
from okr_pipelines.partitions import tenant_partitions
from okr_pipelines.policies import BATCH_INFRA_RETRY
from okr_pipelines.resources import AppDatabase
from okr_pipelines.sources.common import sync_partition


@asset(
    key=RAW_KEYS["jira"],
    group_name="jira",
    partitions_def=tenant_partitions,
    kinds={"python", "parquet"},
    pool="jira",
    retry_policy=BATCH_INFRA_RETRY,
    owners=["team:data-platform"],
)
def raw_jira_issues(context: AssetExecutionContext, app_db: AppDatabase) -> MaterializeResult[None]:
    """Issues matching the JQL of the tenant's Jira bindings, pulled incrementally with the
    ``jira`` client (watermark with overlap, upsert by id) into
    ``warehouse/tenant=<id>/jira/issues.parquet``, plus each binding's membership snapshot in
    ``jira/binding_issues.parquet`` (deleted and moved issues drop out).

    Grain: one row per Jira issue per integration; memberships one row per binding per
    matching issue. Scheduled syncs run tenants in batches (``sync_batch_job``) and record a
    materialization per tenant partition; materialize a partition here for a one-off sync.
    """
    return sync_partition(context, app_db, Source.jira)
