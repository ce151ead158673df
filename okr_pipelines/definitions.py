"""The ``okr_pipelines`` code location, loaded by ``workspace.yaml``.

Importing this module only builds definitions: no settings are read, no engine is built and no
file is written (the SQL models' files are parsed to build one asset per model). ``AppDatabase``
reads the ``OKR_*`` environment when a run or tick starts.
"""

from dagster import Definitions

from okr_pipelines.jobs import sync_batch_job
from okr_pipelines.key_results.assets import key_result_values
from okr_pipelines.platform.assets import tenant_directory
from okr_pipelines.provisioning.jobs import purge_expired_users_job
from okr_pipelines.resources import AppDatabase
from okr_pipelines.schedules import daily_user_purge_schedule
from okr_pipelines.sensors import (
    sync_due_sensor,
    sync_failure_sensor,
    tenant_partitions_sensor,
    webhook_events_sensor,
)
from okr_pipelines.sources.github.assets import raw_github_pull_requests
from okr_pipelines.sources.jira.assets import raw_jira_issues
from okr_pipelines.sql_models.assets import app_bindings, build_model_assets

defs = Definitions(
    assets=[
        tenant_directory,
        app_bindings,
        raw_jira_issues,
        raw_github_pull_requests,
        *build_model_assets(),
        key_result_values,
    ],
    jobs=[sync_batch_job, purge_expired_users_job],
    schedules=[daily_user_purge_schedule],
    sensors=[
        tenant_partitions_sensor,
        sync_due_sensor,
        webhook_events_sensor,
        sync_failure_sensor,
    ],
    resources={"app_db": AppDatabase()},
)
