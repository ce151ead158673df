"""Integration status from sync-run rows at known times."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from okr_core import integration_status, tenants
from okr_core.integration_status import IntegrationStatus
from okr_core.models import ErrorClass, Integration, SyncRun, SyncStatus, SyncTrigger, Tenant
from okr_core.secrets import CredentialCipher
from okr_core.tenancy import bind_tenant, tenant_context
from tests.okr_core.integration_support import NOW, cipher_for, make_github, make_jira


@pytest.fixture
def cipher() -> CredentialCipher:
    return cipher_for()


@pytest.fixture
def tenant(session: Session) -> Tenant:
    tenant = tenants.create_tenant(session, slug="acme", name="Acme")
    bind_tenant(session, tenant.id)
    return tenant


def _run(
    session: Session,
    integration: Integration,
    *,
    ago: timedelta,
    status: SyncStatus,
    message: str | None = None,
    error_class: ErrorClass | None = None,
    minutes: int = 2,
) -> SyncRun:
    started = NOW - ago
    run = SyncRun(
        integration_id=integration.id,
        trigger=SyncTrigger.schedule,
        status=status,
        started_at=started,
        finished_at=None if status is SyncStatus.running else started + timedelta(minutes=minutes),
        error_class=error_class,
        message=message,
    )
    session.add(run)
    session.flush()
    return run


def _status(session: Session, integration: Integration) -> IntegrationStatus:
    (status,) = integration_status.integration_statuses(
        session, now=NOW, integration_id=integration.id
    )
    return status


def test_status_from_runs_at_known_times(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    github = make_github(session, cipher, now=NOW).integration
    github.next_sync_at = NOW + timedelta(minutes=40)
    hours = [1, 3, 5, 30, 50, 100, 200]  # 3 inside 24 h, 6 inside 7 days, 1 older
    outcomes = [
        SyncStatus.succeeded,
        SyncStatus.failed,
        SyncStatus.succeeded,
        SyncStatus.failed,
        SyncStatus.succeeded,
        SyncStatus.succeeded,
        SyncStatus.failed,
    ]
    for hour, outcome in zip(hours, outcomes, strict=True):
        _run(
            session,
            github,
            ago=timedelta(hours=hour),
            status=outcome,
            error_class=ErrorClass.transient if outcome is SyncStatus.failed else None,
            message=f"failed {hour} h ago" if outcome is SyncStatus.failed else None,
        )
    _run(session, github, ago=timedelta(minutes=1), status=SyncStatus.running)

    status = _status(session, github)
    assert status.last_attempt_at == NOW - timedelta(minutes=1)
    assert status.last_success_at == NOW - timedelta(hours=1) + timedelta(minutes=2)
    assert status.next_sync_at == NOW + timedelta(minutes=40)
    assert status.running
    assert (status.success_24h.succeeded, status.success_24h.finished) == (2, 3)
    assert status.success_24h.rate == pytest.approx(2 / 3)
    assert (status.success_7d.succeeded, status.success_7d.finished) == (4, 6)
    assert status.last_error is not None
    assert status.last_error.message == "failed 3 h ago"
    assert status.last_error.error_class is ErrorClass.transient
    assert status.last_error.occurred_at == NOW - timedelta(hours=3) + timedelta(minutes=2)
    assert status.healthy


def test_integration_without_runs_has_no_rates_and_is_due(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher, now=NOW).integration
    status = _status(session, jira)
    assert status.last_attempt_at is None
    assert status.last_success_at is None
    assert status.success_24h.rate is None
    assert status.success_7d.rate is None
    assert status.last_error is None
    assert status.next_sync_at == NOW
    assert not status.running


def test_failing_integration_is_unhealthy_and_shows_the_latest_error(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher, now=NOW).integration
    _run(session, jira, ago=timedelta(hours=2), status=SyncStatus.succeeded)
    _run(
        session,
        jira,
        ago=timedelta(hours=1),
        status=SyncStatus.failed,
        error_class=ErrorClass.permanent,
        message="Jira refused the API token (401): enter a valid token",
    )
    status = _status(session, jira)
    assert not status.healthy
    assert status.last_error is not None
    assert status.last_error.error_class is ErrorClass.permanent
    assert "enter a valid token" in status.last_error.message
    assert status.success_24h.rate == 0.5


def test_paused_integration_has_no_next_sync(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    github = make_github(session, cipher, is_paused=True, now=NOW).integration
    assert _status(session, github).next_sync_at is None


def test_next_sync_falls_back_to_last_attempt_plus_interval(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    github = make_github(session, cipher, now=NOW, sync_interval_minutes=30).integration
    github.next_sync_at = None
    _run(session, github, ago=timedelta(minutes=10), status=SyncStatus.succeeded)
    assert _status(session, github).next_sync_at == NOW + timedelta(minutes=20)


def test_status_lists_only_the_tenants_integrations_in_order(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher, now=NOW).integration
    github = make_github(session, cipher, now=NOW).integration
    other = tenants.create_tenant(session, slug="other", name="Other")
    with tenant_context(session, other.id):
        other_github = make_github(session, cipher, now=NOW).integration
        _run(session, other_github, ago=timedelta(hours=1), status=SyncStatus.failed)
    statuses = integration_status.integration_statuses(session, now=NOW)
    assert [s.integration_id for s in statuses] == [github.id, jira.id]
    assert all(s.last_error is None for s in statuses)


def test_times_are_timezone_aware(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    github = make_github(session, cipher, now=NOW).integration
    _run(session, github, ago=timedelta(hours=1), status=SyncStatus.succeeded)
    session.expire_all()
    status = _status(session, github)
    for value in (status.last_attempt_at, status.last_success_at, status.next_sync_at):
        assert isinstance(value, datetime)
        assert value.utcoffset() == timedelta(0)
