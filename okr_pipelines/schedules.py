"""Schedules of the code location.

``daily_user_purge_schedule`` runs ``purge_expired_users_job`` every day at 03:30 UTC. It runs
by default (``DefaultScheduleStatus.RUNNING``): the retention period is a promise to the
tenants, so it must not wait for someone to switch it on.
"""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from okr_pipelines.provisioning.jobs import purge_expired_users_job

daily_user_purge_schedule = ScheduleDefinition(
    name="daily_user_purge_schedule",
    job=purge_expired_users_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Every day at 03:30 UTC: erase soft-deleted users whose retention period is over, in "
        "every tenant."
    ),
)
