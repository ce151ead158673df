"""``raw/github/pull_requests``: a tenant's pull requests, landed as Parquet."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from okr_core.models import Source
from okr_pipelines.keys import RAW_KEYS
from okr_pipelines.partitions import tenant_partitions
from okr_pipelines.policies import BATCH_INFRA_RETRY
from okr_pipelines.resources import AppDatabase
from okr_pipelines.sources.common import sync_partition


@asset(
    key=RAW_KEYS["github"],
    group_name="github",
    partitions_def=tenant_partitions,
    kinds={"python", "parquet"},
    pool="github",
    retry_policy=BATCH_INFRA_RETRY,
    owners=["team:data-platform"],
)
def raw_github_pull_requests(
    context: AssetExecutionContext, app_db: AppDatabase
) -> MaterializeResult[None]:
    """Pull requests of the repositories the tenant's GitHub bindings name, pulled
    incrementally with PyGithub (newest update first down to the watermark, upsert by id) into
    ``warehouse/tenant=<id>/github/pull_requests.parquet``.

    Grain: one row per pull request per integration. Scheduled syncs run tenants in batches
    (``sync_batch_job``) and record a materialization per tenant partition; materialize a
    partition here for a one-off sync.
    """
    return sync_partition(context, app_db, Source.github)
