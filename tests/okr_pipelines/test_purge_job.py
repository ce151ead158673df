"""The daily retention purge: every tenant purged in its own transaction, counts reported, no
personal data in the run's logs, and one tenant's failure leaving the others purged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DefaultScheduleStatus,
    ExecuteInProcessResult,
    build_schedule_context,
    validate_run_config,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import deprovisioning, users
from okr_core.deprovisioning import ERASED_DOMAIN
from okr_core.models import IdentityLink, TenantStatus, User
from okr_core.tenancy import current_tenant, tenant_context
from okr_pipelines.definitions import defs
from okr_pipelines.provisioning import jobs as purge_jobs
from okr_pipelines.provisioning.jobs import purge_expired_users_job
from okr_pipelines.schedules import daily_user_purge_schedule
from tests.okr_pipelines.conftest import ACTOR, AppDb

NOW = datetime.now(UTC)


def add_person(
    session: Session, slug: str, name: str, *, purge_after: datetime | None
) -> uuid.UUID:
    """A SCIM-provisioned person; soft-deleted (kept until ``purge_after``) unless None."""
    user = users.create_user(
        session, actor=ACTOR, email=f"{name}@{slug}.example.com", display_name=f"{name} Person"
    )
    session.add(
        IdentityLink(
            user_id=user.id,
            user_name=f"{name}@{slug}.example.com",
            user_name_key=f"{name}@{slug}.example.com",
            deleted_at=None if purge_after is None else NOW - timedelta(days=30),
            purge_after=purge_after,
        )
    )
    session.flush()
    return user.id


def seed(app_db: AppDb, slug: str, *, expired: int, kept: int, active: int) -> uuid.UUID:
    tenant_id = app_db.create_tenant(slug)
    with app_db.commit() as session, tenant_context(session, tenant_id):
        for i in range(expired):
            add_person(session, slug, f"gone{i}", purge_after=NOW - timedelta(hours=1))
        for i in range(kept):
            add_person(session, slug, f"kept{i}", purge_after=NOW + timedelta(days=5))
        for i in range(active):
            add_person(session, slug, f"here{i}", purge_after=None)
    return tenant_id


def people(app_db: AppDb, tenant_id: uuid.UUID) -> dict[str, str]:
    """Display name by e-mail: erased people show up under their tombstone address."""
    with app_db.commit() as session, tenant_context(session, tenant_id):
        return {u.email: u.display_name for u in session.scalars(select(User))}


def log_text(instance: DagsterInstance, result: ExecuteInProcessResult) -> str:
    records = instance.all_logs(result.run_id)
    parts = [record.user_message or "" for record in records]
    for record in records:
        event = record.dagster_event
        if event is not None:
            parts.append(repr(event.event_specific_data))
    return "\n".join(parts)


def run(app_db: AppDb, instance: DagsterInstance) -> ExecuteInProcessResult:
    return purge_expired_users_job.execute_in_process(
        instance=instance, resources={"app_db": app_db.resource()}, raise_on_error=False
    )


def test_every_tenants_expired_users_are_erased_and_counted(
    app_db: AppDb, dagster_instance: DagsterInstance
) -> None:
    acme = seed(app_db, "acme", expired=2, kept=1, active=1)
    globex = seed(app_db, "globex", expired=1, kept=0, active=1)
    app_db.set_status(globex, TenantStatus.suspended)  # retention applies to suspended tenants
    quiet = seed(app_db, "quiet", expired=0, kept=1, active=1)

    result = run(app_db, dagster_instance)

    assert result.success
    acme_people = people(app_db, acme)
    assert sum(e.endswith(f"@{ERASED_DOMAIN}") for e in acme_people) == 2
    assert {"kept0@acme.example.com", "here0@acme.example.com"} <= set(acme_people)
    assert not any(e.startswith("gone") for e in acme_people)
    assert sum(e.endswith(f"@{ERASED_DOMAIN}") for e in people(app_db, globex)) == 1
    assert not any(e.endswith(f"@{ERASED_DOMAIN}") for e in people(app_db, quiet))

    [output] = [e for e in result.all_events if e.event_type is DagsterEventType.STEP_OUTPUT]
    metadata = output.step_output_data.metadata
    assert metadata["tenants_checked"].value == 3
    assert metadata["tenants_with_erasures"].value == 2
    assert metadata["users_erased"].value == 3
    assert metadata["tenants_failed"].value == 0
    assert metadata["erased_by_tenant"].value == {str(acme): 2, str(globex): 1}
    run_record = dagster_instance.get_run_by_id(result.run_id)
    assert run_record is not None
    assert run_record.tags["okr/users_erased"] == "3"

    text = log_text(dagster_instance, result)
    assert "erased 3 user(s)" in text
    for email, name in {**acme_people, **people(app_db, quiet)}.items():
        assert email.split("@")[0] not in text
        assert name not in text
    for i in range(2):
        assert f"gone{i}" not in text
        assert f"gone{i} Person" not in text

    # A second run finds nothing left to erase.
    again = run(app_db, dagster_instance)
    assert again.success
    [output] = [e for e in again.all_events if e.event_type is DagsterEventType.STEP_OUTPUT]
    assert output.step_output_data.metadata["users_erased"].value == 0


def test_one_failing_tenant_is_rolled_back_and_the_others_are_purged(
    app_db: AppDb, dagster_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = seed(app_db, "acme", expired=1, kept=0, active=0)
    broken = seed(app_db, "broken", expired=2, kept=0, active=0)
    zeta = seed(app_db, "zeta", expired=1, kept=0, active=0)
    real_purge = deprovisioning.purge_expired

    def purge_then_fail(session: Session, **kwargs: object) -> int:
        erased = real_purge(session, **kwargs)  # type: ignore[arg-type]
        if current_tenant(session) == broken:
            # As a database error would: quoting a row, personal data included.
            raise RuntimeError("duplicate key: gone0@broken.example.com (gone0 Person)")
        return erased

    monkeypatch.setattr(purge_jobs, "purge_expired", purge_then_fail)

    result = run(app_db, dagster_instance)

    assert not result.success
    assert sum(e.endswith(f"@{ERASED_DOMAIN}") for e in people(app_db, acme)) == 1
    assert sum(e.endswith(f"@{ERASED_DOMAIN}") for e in people(app_db, zeta)) == 1
    # The failing tenant's erasures were rolled back together.
    assert set(people(app_db, broken)) == {"gone0@broken.example.com", "gone1@broken.example.com"}

    [failure] = [e for e in result.all_events if e.event_type is DagsterEventType.STEP_FAILURE]
    data = failure.step_failure_data
    assert data.user_failure_data is not None
    metadata = data.user_failure_data.metadata
    assert metadata["users_erased"].value == 2
    assert metadata["failed_tenants"].value == [
        {"tenant_id": str(broken), "error_class": "RuntimeError"}
    ]
    text = log_text(dagster_instance, result)
    assert "gone0" not in text
    assert "broken.example.com" not in text


def test_the_daily_schedule_runs_by_default_and_requests_a_valid_run() -> None:
    assert daily_user_purge_schedule.default_status is DefaultScheduleStatus.RUNNING
    assert daily_user_purge_schedule.cron_schedule == "30 3 * * *"
    assert daily_user_purge_schedule.execution_timezone == "UTC"
    assert defs.resolve_schedule_def("daily_user_purge_schedule").job_name == (
        "purge_expired_users_job"
    )
    tick = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)
    context = build_schedule_context(scheduled_execution_time=tick)
    data = daily_user_purge_schedule.evaluate_tick(context)
    [request] = data.run_requests or []
    validate_run_config(purge_expired_users_job, request.run_config)


def test_the_scheduled_run_purges(app_db: AppDb, dagster_instance: DagsterInstance) -> None:
    tenant_id = seed(app_db, "acme", expired=1, kept=0, active=0)
    context = build_schedule_context(
        instance=dagster_instance, scheduled_execution_time=datetime.now(UTC)
    )
    [request] = daily_user_purge_schedule.evaluate_tick(context).run_requests or []
    result = purge_expired_users_job.execute_in_process(
        run_config=request.run_config,
        instance=dagster_instance,
        resources={"app_db": app_db.resource()},
        tags=request.tags,
    )
    assert result.success
    assert all(e.endswith(f"@{ERASED_DOMAIN}") for e in people(app_db, tenant_id))
