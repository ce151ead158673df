"""The admin UI's Integrations pages through the real app: status per integration, connecting with
write-only credentials, sync now, pause, settings, disconnect, and binding a key result with a
preview against the GitHub sandbox. Every test runs on SQLite and on PostgreSQL.

Error pages roll back the request's unit of work (the test's own session here), so a request that
expects a 403 or 404 page comes last in its test.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.integrations import credentials_of
from okr_core.models import (
    AuditEvent,
    ErrorClass,
    Integration,
    KrBinding,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from okr_core.periods import period_of
from okr_core.roles import Role
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from okr_sandboxes.api import GitHubSandbox, run_github_sandbox
from tests.okr_api.admin.conftest import Okrs
from tests.okr_api.admin.page_parser import parse
from tests.okr_api.conftest import TenantWorld
from tests.okr_core.integration_support import (
    GITHUB_TOKEN,
    cipher_for,
    make_github,
    make_jira,
    make_key_result,
)

ClientFor = Callable[[Role], TestClient]
PAGE = "/admin/integrations"
BINDINGS = "/admin/integrations/bindings"
TYPED_SECRET = "ghp_typed-into-the-admin-form-0000"
CURRENT_PERIOD = period_of(datetime.now(UTC).date()).name


@pytest.fixture
def cipher(db_settings: Settings) -> CredentialCipher:
    return cipher_for(db_settings)


@pytest.fixture
def github(session: Session, tenant_a: TenantWorld, cipher: CredentialCipher) -> Integration:
    with tenant_context(session, tenant_a.tenant.id):
        row = make_github(session, cipher, name="Platform GitHub").integration
        now = datetime.now(UTC)
        for hours, status in ((30, SyncStatus.succeeded), (5, SyncStatus.succeeded)):
            session.add(
                SyncRun(
                    integration_id=row.id,
                    trigger=SyncTrigger.schedule,
                    status=status,
                    started_at=now - timedelta(hours=hours),
                    finished_at=now - timedelta(hours=hours, minutes=-1),
                )
            )
        session.add(
            SyncRun(
                integration_id=row.id,
                trigger=SyncTrigger.schedule,
                status=SyncStatus.failed,
                started_at=now - timedelta(hours=1),
                finished_at=now - timedelta(minutes=59),
                error_class=ErrorClass.permanent,
                message="GitHub refused the token (401): enter a new token",
            )
        )
        session.flush()
    return row


@pytest.fixture(scope="module")
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="admin-ui", pulls=30) as sandbox:
        yield sandbox


def _text(response_text: str) -> str:
    return parse(response_text).text


def test_editor_sees_each_integrations_status_without_controls(
    client_for: ClientFor, github: Integration
) -> None:
    response = client_for(Role.okr_editor).get(PAGE)
    assert response.status_code == 200
    page = parse(response.text)
    assert "Platform GitHub" in page.text
    assert "Failing" in page.text
    assert "GitHub refused the token (401): enter a new token." in page.text
    assert "50%" in page.text  # 1 of 2 runs in 24 hours succeeded
    assert "67%" in page.text  # 2 of 3 in 7 days
    assert "every hour" in page.text
    assert 'data-field="last-trigger">schedule<' in response.text
    assert page.all("a", href=PAGE, aria_current="page")
    assert not page.all("form", action=f"{PAGE}/{github.id}/sync")
    assert not page.all("form", action=PAGE)
    assert GITHUB_TOKEN not in response.text


def test_admin_connects_a_source_and_sees_the_webhook_secret_once(
    client_for: ClientFor,
    session: Session,
    tenant_a: TenantWorld,
    cipher: CredentialCipher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = client_for(Role.tenant_admin)
    response = admin.post(
        PAGE,
        data={
            "source": "github",
            "name": "New GitHub",
            "base_url": "https://api.github.com",
            "auth_kind": "token",
            "account": "acme",
            "secret": TYPED_SECRET,
            "sync_interval_minutes": "30",
        },
    )
    assert response.status_code == 200, response.text
    page = parse(response.text)
    assert "New GitHub is connected" in page.text
    secret = re.search(r'data-testid="webhook-secret">([^<]+)<', response.text)
    assert secret is not None
    assert secret.group(1).startswith("whsec_")
    assert "/webhooks/github/" in response.text
    assert TYPED_SECRET not in response.text
    assert "every 30 minutes" in page.text
    with tenant_context(session, tenant_a.tenant.id):
        row = session.scalars(select(Integration).where(Integration.name == "New GitHub")).one()
        assert credentials_of(row, cipher) == {"token": TYPED_SECRET}
        audit = repr([(e.action, e.changes) for e in session.scalars(select(AuditEvent))])
    assert "integration.created" in audit
    again = admin.get(PAGE)
    assert secret.group(1) not in again.text
    for text in (audit, caplog.text, again.text):
        assert TYPED_SECRET not in text


@pytest.mark.parametrize("interval", ["4", "1441", "soon"])
def test_connect_with_a_bad_interval_keeps_the_form_but_not_the_token(
    client_for: ClientFor, tenant_a: TenantWorld, interval: str
) -> None:
    response = client_for(Role.tenant_admin).post(
        PAGE,
        data={
            "source": "jira",
            "name": "Jira",
            "base_url": "https://acme.atlassian.net",
            "auth_kind": "api_token",
            "account": "robot@acme.example.com",
            "secret": TYPED_SECRET,
            "sync_interval_minutes": interval,
        },
    )
    assert response.status_code == 422
    page = parse(response.text)
    assert "between 5 (5 minutes) and 1440 (24 hours)" in page.text
    assert page.all("input", name="name", value="Jira")
    assert TYPED_SECRET not in response.text


def test_sync_now_pause_and_resume(
    client_for: ClientFor, session: Session, tenant_a: TenantWorld, github: Integration
) -> None:
    admin = client_for(Role.tenant_admin)
    synced = admin.post(f"{PAGE}/{github.id}/sync", follow_redirects=False)
    assert synced.status_code == 303
    page = admin.get(synced.headers["location"])
    assert "Sync requested: Platform GitHub syncs within a minute." in _text(page.text)
    assert 'data-field="sync-requested">manual<' in page.text
    paused = admin.post(f"{PAGE}/{github.id}/pause")
    assert "Platform GitHub is paused" in _text(paused.text)
    assert parse(paused.text).all("form", action=f"{PAGE}/{github.id}/resume")
    with tenant_context(session, tenant_a.tenant.id):
        session.refresh(github)
        assert github.is_paused
        assert github.next_sync_at is None
    resumed = admin.post(f"{PAGE}/{github.id}/resume")
    assert "resumed" in _text(resumed.text)
    with tenant_context(session, tenant_a.tenant.id):
        session.refresh(github)
        assert not github.is_paused


def test_settings_change_the_interval_and_replace_the_token(
    client_for: ClientFor,
    session: Session,
    tenant_a: TenantWorld,
    github: Integration,
    cipher: CredentialCipher,
) -> None:
    admin = client_for(Role.tenant_admin)
    data = {
        "name": "Platform GitHub",
        "base_url": github.base_url,
        "account": "acme",
        "secret": TYPED_SECRET,
        "sync_interval_minutes": "15",
    }
    response = admin.post(f"{PAGE}/{github.id}/settings", data=data)
    assert response.status_code == 200
    assert "every 15 minutes" in _text(response.text)
    with tenant_context(session, tenant_a.tenant.id):
        session.refresh(github)
        assert credentials_of(github, cipher) == {"token": TYPED_SECRET}
    refused = admin.post(
        f"{PAGE}/{github.id}/settings", data={**data, "sync_interval_minutes": "2", "secret": ""}
    )
    assert refused.status_code == 422
    assert "must be between 5 (5 minutes) and 1440 (24 hours)" in _text(refused.text)
    with tenant_context(session, tenant_a.tenant.id):
        session.refresh(github)
        assert github.sync_interval_minutes == 15


def test_disconnect(client_for: ClientFor, github: Integration) -> None:
    admin = client_for(Role.tenant_admin)
    response = admin.post(f"{PAGE}/{github.id}/delete")
    assert response.status_code == 200
    page = parse(response.text)
    assert "The integration is disconnected" in page.text
    assert "Platform GitHub" not in page.text
    assert "No integrations yet" in page.text


def test_new_webhook_secret_is_shown_once(client_for: ClientFor, github: Integration) -> None:
    admin = client_for(Role.tenant_admin)
    response = admin.post(f"{PAGE}/{github.id}/webhook-secret")
    assert response.status_code == 200
    assert 'data-testid="webhook-secret">whsec_' in response.text
    assert "whsec_" not in admin.get(PAGE).text


def test_forms_need_the_csrf_token(client_for: ClientFor, github: Integration) -> None:
    admin = client_for(Role.tenant_admin)
    del admin.headers["X-CSRF-Token"]
    response = admin.post(f"{PAGE}/{github.id}/sync")
    assert response.status_code == 403


def test_editor_cannot_use_admin_controls(client_for: ClientFor, github: Integration) -> None:
    response = client_for(Role.okr_editor).post(f"{PAGE}/{github.id}/sync")
    assert response.status_code == 403
    assert "tenant admins only" in _text(response.text)


def test_viewer_gets_the_403_page(client_for: ClientFor, github: Integration) -> None:
    response = client_for(Role.viewer).get(PAGE)
    assert response.status_code == 403
    assert "OKR editors only" in _text(response.text)
    assert "Platform GitHub" not in response.text


def test_another_tenants_integration_is_a_404_page(
    client_for: ClientFor, session: Session, tenant_b: TenantWorld, cipher: CredentialCipher
) -> None:
    with tenant_context(session, tenant_b.tenant.id):
        other = make_jira(session, cipher, name="Tenant B Jira").integration
        session.flush()
    admin = client_for(Role.tenant_admin)
    assert "Tenant B Jira" not in admin.get(PAGE).text
    response = admin.post(f"{PAGE}/{other.id}/sync")
    assert response.status_code == 404
    assert "Tenant B Jira" not in response.text


def test_connection_test_against_the_sandbox(
    client_for: ClientFor,
    session: Session,
    tenant_a: TenantWorld,
    cipher: CredentialCipher,
    github_sandbox: GitHubSandbox,
) -> None:
    with tenant_context(session, tenant_a.tenant.id):
        row = make_github(
            session,
            cipher,
            name="Sandbox",
            base_url=github_sandbox.base_url,
            secret=github_sandbox.token,
        ).integration
        session.flush()
    response = client_for(Role.tenant_admin).post(f"{PAGE}/{row.id}/test")
    assert response.status_code == 200
    assert "Sandbox connects: signed in as" in _text(response.text)
    assert github_sandbox.token not in response.text


def test_editor_previews_then_saves_a_binding_and_unbinds_it(
    client_for: ClientFor,
    session: Session,
    tenant_a: TenantWorld,
    cipher: CredentialCipher,
    okrs: Okrs,
    github_sandbox: GitHubSandbox,
) -> None:
    with tenant_context(session, tenant_a.tenant.id):
        row = make_github(
            session,
            cipher,
            name="Sandbox",
            base_url=github_sandbox.base_url,
            secret=github_sandbox.token,
        ).integration
        kr = make_key_result(session, title="Merged pull requests", period=CURRENT_PERIOD)
        session.flush()
    editor = client_for(Role.okr_editor)
    form = {
        "key_result_id": str(kr.id),
        "integration_id": str(row.id),
        "metric": "github_merged_prs",
        "repositories": f"{github_sandbox.owner}/{github_sandbox.repos[0]}",
        "whole_history": "1",
    }
    preview = editor.post(BINDINGS, data={**form, "action": "preview"})
    assert preview.status_code == 200, preview.text
    page = parse(preview.text)
    count = re.search(r'data-testid="preview-count">(\d+)<', preview.text)
    assert count is not None
    assert int(count.group(1)) > 0
    assert 0 < len(page.all("tr", cls="preview-record")) <= 20
    assert f'<option value="{kr.id}" selected>' in preview.text  # the form keeps its choices
    with tenant_context(session, tenant_a.tenant.id):
        assert session.scalars(select(KrBinding)).all() == []

    saved = editor.post(BINDINGS, data={**form, "action": "save"}, follow_redirects=False)
    assert saved.status_code == 303
    listing = editor.get(saved.headers["location"])
    page = parse(listing.text)
    assert "Binding saved" in page.text
    assert len(page.all("tr", cls="binding")) == 1
    assert "Merged pull requests" in page.text
    assert "GitHub: merged pull requests" in page.text
    with tenant_context(session, tenant_a.tenant.id):
        (binding,) = session.scalars(select(KrBinding)).all()
        assert binding.parameters == {"repositories": [form["repositories"]]}

    unbound = editor.post(f"{BINDINGS}/{kr.id}/delete")
    assert "Binding removed" in _text(unbound.text)
    assert not parse(unbound.text).all("tr", cls="binding")


def test_invalid_binding_shows_what_to_fix(
    client_for: ClientFor, session: Session, tenant_a: TenantWorld, okrs: Okrs, github: Integration
) -> None:
    response = client_for(Role.okr_editor).post(
        BINDINGS,
        data={
            "action": "save",
            "key_result_id": str(okrs.revenue.id),
            "integration_id": str(github.id),
            "metric": "github_merged_prs",
            "repositories": "not-a-repo",
        },
    )
    assert response.status_code == 422
    assert "write it as owner/name" in _text(response.text)
    with tenant_context(session, tenant_a.tenant.id):
        assert session.scalars(select(KrBinding)).all() == []
