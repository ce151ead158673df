"""Integrations: write-only encrypted credentials, bounded intervals, pause, "sync now", audit."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import integrations, kr_bindings, tenants
from okr_core.errors import Conflict, NotFound, ValidationFailed
from okr_core.models import Integration, KrBinding, SyncRun, SyncTrigger, Tenant
from okr_core.secrets import CredentialCipher
from okr_core.tenancy import bind_tenant, tenant_context
from tests.okr_core.integration_support import (
    ACTOR,
    GITHUB_TOKEN,
    JIRA_TOKEN,
    NOW,
    audit_actions,
    audit_text,
    cipher_for,
    make_github,
    make_jira,
    make_key_result,
)


@pytest.fixture
def cipher() -> CredentialCipher:
    return cipher_for()


@pytest.fixture
def tenant(session: Session) -> Tenant:
    tenant = tenants.create_tenant(session, slug="acme", name="Acme")
    bind_tenant(session, tenant.id)
    return tenant


def test_credentials_are_stored_encrypted_and_readable_for_connectors(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    created = make_jira(session, cipher)
    row = created.integration
    assert JIRA_TOKEN not in row.credentials_ciphertext
    assert integrations.credentials_of(row, cipher) == {"api_token": JIRA_TOKEN}
    assert row.account == "robot@acme.example.com"
    assert row.sync_interval_minutes == 60
    assert not row.is_paused


def test_each_auth_kind_stores_its_documented_credential_field(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    oauth = make_jira(session, cipher, name="OAuth", auth_kind="oauth_token", account="")
    app = make_github(session, cipher, name="App", auth_kind="app_installation")
    assert integrations.credentials_of(oauth.integration, cipher) == {"access_token": JIRA_TOKEN}
    assert integrations.credentials_of(app.integration, cipher) == {"token": GITHUB_TOKEN}


def test_webhook_secret_is_issued_once_and_kept_encrypted(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    created = make_github(session, cipher)
    assert created.webhook_secret.startswith("whsec_")
    assert len(created.webhook_secret) > 40
    stored = created.integration.webhook_secret_ciphertext
    assert stored is not None
    assert created.webhook_secret not in stored
    assert integrations.webhook_secret_of(created.integration, cipher) == created.webhook_secret
    rotated = integrations.rotate_webhook_secret(
        session, actor=ACTOR, cipher=cipher, integration_id=created.integration.id
    )
    assert rotated.webhook_secret != created.webhook_secret
    assert integrations.webhook_secret_of(rotated.integration, cipher) == rotated.webhook_secret
    assert created.webhook_secret not in audit_text(session)
    assert rotated.webhook_secret not in audit_text(session)


def test_no_secret_reaches_audit_entries_or_logs(
    session: Session, tenant: Tenant, cipher: CredentialCipher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = make_jira(session, cipher)
    integrations.update_integration(
        session,
        actor=ACTOR,
        cipher=cipher,
        integration_id=created.integration.id,
        changes={"secret": "ATATT-the-replacement-secret", "sync_interval_minutes": 30},
    )
    with pytest.raises(ValidationFailed) as excinfo:
        integrations.update_integration(
            session,
            actor=ACTOR,
            cipher=cipher,
            integration_id=created.integration.id,
            changes={"base_url": "https://robot:hunter2-password@acme.atlassian.net"},
        )
    assert "hunter2" not in excinfo.value.message
    session.flush()
    recorded = audit_text(session)
    for secret in (JIRA_TOKEN, "ATATT-the-replacement-secret", created.webhook_secret, "hunter2"):
        assert secret not in recorded
        assert secret not in caplog.text
    assert '"credentials_replaced": true' in recorded
    assert audit_actions(session) == ["integration.created", "integration.updated"]


@pytest.mark.parametrize("minutes", [0, 4, 1441, 10_000, -5])
def test_sync_interval_outside_5_minutes_to_24_hours_is_refused(
    session: Session, tenant: Tenant, cipher: CredentialCipher, minutes: int
) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        make_github(session, cipher, sync_interval_minutes=minutes)
    assert excinfo.value.details == {"field": "sync_interval_minutes"}
    created = make_github(session, cipher, name="ok")
    with pytest.raises(ValidationFailed):
        integrations.update_integration(
            session,
            actor=ACTOR,
            cipher=cipher,
            integration_id=created.integration.id,
            changes={"sync_interval_minutes": minutes},
        )


@pytest.mark.parametrize("minutes", [5, 60, 1440])
def test_sync_interval_bounds_are_inclusive(
    session: Session, tenant: Tenant, cipher: CredentialCipher, minutes: int
) -> None:
    created = make_github(session, cipher, sync_interval_minutes=minutes)
    assert created.integration.sync_interval_minutes == minutes


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"source": "salesforce"}, "source"),
        ({"auth_kind": "token"}, "auth_kind"),
        ({"account": "not-an-email"}, "account"),
        ({"secret": "   "}, "secret"),
        ({"name": ""}, "name"),
        ({"base_url": "ftp://acme.example.com"}, "base_url"),
        ({"base_url": "acme.atlassian.net"}, "base_url"),
        ({"base_url": "https://acme.atlassian.net/?x=1"}, "base_url"),
        ({"base_url": "https://acme.atlassian.net:99999"}, "base_url"),
    ],
)
def test_invalid_settings_name_the_field_to_fix(
    session: Session,
    tenant: Tenant,
    cipher: CredentialCipher,
    overrides: dict[str, str],
    field: str,
) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        make_jira(session, cipher, **overrides)
    assert excinfo.value.details["field"] == field


def test_base_url_keeps_its_path_without_trailing_slash(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    created = make_jira(session, cipher, base_url=" http://127.0.0.1:8081/ex/jira/acme/ ")
    assert created.integration.base_url == "http://127.0.0.1:8081/ex/jira/acme"


def test_names_are_unique_per_source(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    make_jira(session, cipher, name="Main")
    make_github(session, cipher, name="Main")
    with pytest.raises(Conflict):
        make_jira(session, cipher, name="Main")


def test_new_integration_is_due_at_once_unless_paused(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    active = make_github(session, cipher, now=NOW)
    paused = make_github(session, cipher, name="paused", is_paused=True, now=NOW)
    assert active.integration.next_sync_at == NOW
    assert paused.integration.next_sync_at is None


def test_pause_clears_the_schedule_and_resume_restores_it(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_github(session, cipher, now=NOW).integration
    row.last_attempt_at = NOW - timedelta(minutes=10)
    row.next_sync_at = NOW + timedelta(minutes=50)
    integrations.set_paused(
        session, actor=ACTOR, cipher=cipher, integration_id=row.id, paused=True, now=NOW
    )
    assert row.is_paused
    assert row.next_sync_at is None
    integrations.set_paused(
        session, actor=ACTOR, cipher=cipher, integration_id=row.id, paused=False, now=NOW
    )
    assert not row.is_paused
    assert row.next_sync_at == NOW + timedelta(minutes=50)
    assert audit_actions(session)[-2:] == ["integration.paused", "integration.resumed"]


def test_interval_change_reschedules_from_the_last_attempt(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_github(session, cipher, now=NOW).integration
    row.last_attempt_at = NOW - timedelta(minutes=10)
    row.next_sync_at = NOW + timedelta(minutes=50)
    integrations.update_integration(
        session,
        actor=ACTOR,
        cipher=cipher,
        integration_id=row.id,
        changes={"sync_interval_minutes": 15},
        now=NOW,
    )
    assert row.next_sync_at == NOW + timedelta(minutes=5)
    integrations.update_integration(
        session,
        actor=ACTOR,
        cipher=cipher,
        integration_id=row.id,
        changes={"name": "renamed"},
        now=NOW,
    )
    assert row.next_sync_at == NOW + timedelta(minutes=5)


def test_new_credentials_make_a_sync_due_at_once(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_github(session, cipher, now=NOW).integration
    row.last_attempt_at = NOW - timedelta(minutes=10)
    row.next_sync_at = NOW + timedelta(minutes=50)
    integrations.update_integration(
        session,
        actor=ACTOR,
        cipher=cipher,
        integration_id=row.id,
        changes={"secret": "ghp_new"},
        now=NOW,
    )
    assert row.next_sync_at == NOW
    assert integrations.credentials_of(row, cipher) == {"token": "ghp_new"}


def test_changing_auth_kind_needs_new_credentials(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_jira(session, cipher).integration
    with pytest.raises(ValidationFailed) as excinfo:
        integrations.update_integration(
            session,
            actor=ACTOR,
            cipher=cipher,
            integration_id=row.id,
            changes={"auth_kind": "oauth_token"},
        )
    assert excinfo.value.details == {"field": "secret"}
    integrations.update_integration(
        session,
        actor=ACTOR,
        cipher=cipher,
        integration_id=row.id,
        changes={"auth_kind": "oauth_token", "secret": "oauth-access"},
    )
    assert integrations.credentials_of(row, cipher) == {"access_token": "oauth-access"}


def test_unknown_fields_are_refused(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_jira(session, cipher).integration
    with pytest.raises(ValidationFailed):
        integrations.update_integration(
            session,
            actor=ACTOR,
            cipher=cipher,
            integration_id=row.id,
            changes={"credentials_ciphertext": "x"},
        )


def test_sync_now_makes_the_integration_due_and_is_audited_as_manual(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_github(session, cipher, now=NOW).integration
    row.next_sync_at = NOW + timedelta(hours=1)
    later = NOW + timedelta(minutes=3)
    integrations.request_sync(session, actor=ACTOR, integration_id=row.id, now=later)
    assert row.next_sync_at == later
    assert audit_actions(session)[-1] == "integration.sync_requested"
    assert '"trigger": "manual"' in audit_text(session)


def test_sync_now_on_a_paused_integration_asks_to_resume(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_github(session, cipher, is_paused=True).integration
    with pytest.raises(Conflict, match="resume"):
        integrations.request_sync(session, actor=ACTOR, integration_id=row.id)


def test_delete_removes_bindings_and_sync_runs(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_github(session, cipher).integration
    kr = make_key_result(session)
    kr_bindings.set_binding(
        session,
        actor=ACTOR,
        key_result_id=kr.id,
        integration_id=row.id,
        metric="github_merged_prs",
        parameters={"repositories": ["acme/api"]},
    )
    session.add(SyncRun(integration_id=row.id, trigger=SyncTrigger.schedule))
    session.flush()
    integrations.delete_integration(session, actor=ACTOR, integration_id=row.id)
    session.expire_all()
    assert session.scalars(select(Integration)).all() == []
    assert session.scalars(select(KrBinding)).all() == []
    assert session.scalars(select(SyncRun)).all() == []
    assert audit_actions(session)[-1] == "integration.deleted"
    assert str(kr.id) in audit_text(session)


def test_other_tenants_integration_is_not_found(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    row = make_github(session, cipher).integration
    other = tenants.create_tenant(session, slug="other", name="Other")
    with tenant_context(session, other.id):
        assert integrations.list_integrations(session) == []
        with pytest.raises(NotFound):
            integrations.get_integration(session, row.id)
        with pytest.raises(NotFound):
            integrations.request_sync(session, actor=ACTOR, integration_id=row.id)
        with pytest.raises(NotFound):
            integrations.delete_integration(session, actor=ACTOR, integration_id=row.id)
    assert integrations.list_integrations(session) == [row]
