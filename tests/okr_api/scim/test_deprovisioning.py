"""Deprovisioning and group-to-role mapping, seen from the people they affect.

active=false ends sessions on the very next request; DELETE follows the tenant's policy
(soft with retention then purge, or hard erasure with pseudonymous audit references); owned
objectives and KRs are flagged and admins notified; mapped roles change what a signed-in
user may do on the next request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import deprovisioning, objectives, provisioning, role_mappings
from okr_core.actors import Actor
from okr_core.models import (
    AuditEvent,
    DeletionMode,
    IdentityLink,
    Notification,
    OwnershipFlag,
    User,
)
from okr_core.passwords import hash_password
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import PASSWORD, TenantWorld, sign_in
from tests.okr_api.scim.conftest import BASE, ScimTenant, create_group, create_user, patch

ADMIN = Actor.system("test setup")


def _provision_and_sign_in(
    session: Session, scim: TestClient, world: TenantWorld, app_client: TestClient, name: str
) -> dict[str, Any]:
    user = create_user(scim, name)
    with tenant_context(session, world.tenant.id):
        row = session.get(User, uuid.UUID(user["id"]))
        assert row is not None
        row.password_hash = hash_password(PASSWORD)
    session.flush()
    sign_in(app_client, organisation=world.tenant.slug, email=name)
    return user


def test_deactivation_ends_sessions_on_the_next_request(
    session: Session,
    scim_client_for: Callable[[ScimTenant], TestClient],
    scim_world_a: ScimTenant,
    tenant_a: TenantWorld,
    anonymous: TestClient,
) -> None:
    scim = scim_client_for(scim_world_a)
    user = _provision_and_sign_in(session, scim, tenant_a, anonymous, "pat@tenant-a.example.com")
    assert anonymous.get("/api/v1/session").json()["user"]["role"] == "viewer"  # default role
    response = patch(
        scim, f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "False"}
    )
    assert response.status_code == 200
    assert anonymous.get("/api/v1/session").status_code == 401
    reactivated = patch(scim, f"/Users/{user['id']}", {"op": "replace", "value": {"active": True}})
    assert reactivated.json()["active"] is True
    anonymous.headers.pop("X-CSRF-Token")
    sign_in(anonymous, organisation=tenant_a.tenant.slug, email="pat@tenant-a.example.com")
    assert anonymous.get("/api/v1/session").status_code == 200


def test_group_mapping_changes_what_a_user_may_do_on_the_next_request(
    session: Session,
    scim_client_for: Callable[[ScimTenant], TestClient],
    scim_world_a: ScimTenant,
    tenant_a: TenantWorld,
    anonymous: TestClient,
) -> None:
    scim = scim_client_for(scim_world_a)
    user = _provision_and_sign_in(session, scim, tenant_a, anonymous, "sam@tenant-a.example.com")
    admins = create_group(scim, "OKR Admins")
    editors = create_group(scim, "OKR Editors", [user["id"]])
    with tenant_context(session, tenant_a.tenant.id):
        role_mappings.create_mapping(
            session, actor=ADMIN, role=Role.tenant_admin, group_display_name="okr admins"
        )
        role_mappings.create_mapping(
            session, actor=ADMIN, role=Role.okr_editor, group_id=uuid.UUID(editors["id"])
        )
    session.flush()
    assert anonymous.get("/api/v1/session").json()["user"]["role"] == "okr_editor"
    assert anonymous.get("/api/v1/audit-events").status_code == 403
    add = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
    assert patch(scim, f"/Groups/{admins['id']}", add).status_code == 204
    # Highest mapped role wins, from the next request on.
    assert anonymous.get("/api/v1/session").json()["user"]["role"] == "tenant_admin"
    assert anonymous.get("/api/v1/audit-events").status_code == 200
    remove = {"op": "remove", "path": f'members[value eq "{user["id"]}"]'}
    assert patch(scim, f"/Groups/{admins['id']}", remove).status_code == 204
    assert (
        patch(scim, f"/Groups/{editors['id']}", {"op": "remove", "path": "members"}).status_code
        == 204
    )
    assert anonymous.get("/api/v1/audit-events").status_code == 403
    assert anonymous.get("/api/v1/session").json()["user"]["role"] == "viewer"
    # No mapping and no default role: no access at all.
    with tenant_context(session, tenant_a.tenant.id):
        provisioning.update_settings(session, actor=ADMIN, default_role=None)
    session.flush()
    assert anonymous.get("/api/v1/session").status_code == 403


def _flag_fixture(session: Session, tenant_a: TenantWorld, owner_id: str) -> uuid.UUID:
    with tenant_context(session, tenant_a.tenant.id):
        objective = objectives.create_objective(
            session, actor=ADMIN, title="Ship SCIM", period="2026-Q4", owner_id=uuid.UUID(owner_id)
        )
    session.flush()
    return objective.id


def test_deactivation_flags_owned_objectives_and_notifies_admins(
    session: Session,
    scim_client_for: Callable[[ScimTenant], TestClient],
    scim_world_a: ScimTenant,
    tenant_a: TenantWorld,
) -> None:
    scim = scim_client_for(scim_world_a)
    user = create_user(scim, "owner@tenant-a.example.com")
    objective_id = _flag_fixture(session, tenant_a, user["id"])
    assert (
        patch(
            scim, f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False}
        ).status_code
        == 200
    )
    with tenant_context(session, tenant_a.tenant.id):
        flags = session.scalars(select(OwnershipFlag)).all()
        assert [(f.object_type, f.object_id, f.reason) for f in flags] == [
            ("objective", objective_id, "deactivated")
        ]
        notes = session.scalars(select(Notification)).all()
        assert len(notes) == 1
        assert notes[0].audience is Role.tenant_admin
        assert "1 objective(s)" in notes[0].body
        assert "Okta" in notes[0].body  # the SCIM token's name
        deactivated = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.deactivated")
        ).one()
        assert (deactivated.actor_type, deactivated.actor_id, deactivated.actor_label) == (
            "scim_token",
            str(scim_world_a.token_id),
            "Okta",
        )


def test_soft_delete_hides_then_purges_after_retention(
    session: Session,
    scim_client_for: Callable[[ScimTenant], TestClient],
    scim_world_a: ScimTenant,
    tenant_a: TenantWorld,
) -> None:
    scim = scim_client_for(scim_world_a)
    user = create_user(scim, "leaver@tenant-a.example.com")
    group = create_group(scim, "Team", [user["id"]])
    assert scim.delete(f"{BASE}/Users/{user['id']}").status_code == 204
    assert scim.get(f"{BASE}/Users/{user['id']}").status_code == 404
    assert (
        scim.get(
            f"{BASE}/Users", params={"filter": 'userName eq "leaver@tenant-a.example.com"'}
        ).json()["totalResults"]
        == 0
    )
    assert "members" not in scim.get(f"{BASE}/Groups/{group['id']}").json()
    uid = uuid.UUID(user["id"])
    with tenant_context(session, tenant_a.tenant.id):
        row = session.get(User, uid)
        assert row is not None
        assert row.is_active is False
        assert row.email == "leaver@tenant-a.example.com"  # kept during retention
        link = session.scalars(select(IdentityLink).where(IdentityLink.user_id == uid)).one()
        assert link.purge_after is not None
        assert link.purge_after - link.deleted_at == timedelta(days=30)  # type: ignore[operator]
        assert deprovisioning.purge_expired(session, actor=ADMIN, now=datetime.now(UTC)) == 0
        assert (
            deprovisioning.purge_expired(
                session, actor=ADMIN, now=datetime.now(UTC) + timedelta(days=31)
            )
            == 1
        )
        session.flush()
        session.refresh(row)
        assert row.email.endswith("@erased.invalid")
        assert row.display_name.startswith("Erased user")


def test_recreating_a_soft_deleted_user_restores_it(
    scim: TestClient,
) -> None:
    user = create_user(scim, "back@example.com")
    assert scim.delete(f"{BASE}/Users/{user['id']}").status_code == 204
    again = create_user(scim, "back@example.com")
    assert again["id"] == user["id"]
    assert again["active"] is True


def test_hard_delete_erases_personal_data_and_keeps_pseudonymous_audit(
    session: Session,
    scim_client_for: Callable[[ScimTenant], TestClient],
    scim_world_a: ScimTenant,
    tenant_a: TenantWorld,
) -> None:
    with tenant_context(session, tenant_a.tenant.id):
        provisioning.update_settings(session, actor=ADMIN, deletion_mode=DeletionMode.hard)
    session.flush()
    scim = scim_client_for(scim_world_a)
    user = create_user(scim, "gone@tenant-a.example.com", displayName="Gone Person")
    objective_id = _flag_fixture(session, tenant_a, user["id"])
    assert (
        patch(
            scim, f"/Users/{user['id']}", {"op": "replace", "path": "nickName", "value": "G"}
        ).status_code
        == 200
    )
    assert scim.delete(f"{BASE}/Users/{user['id']}").status_code == 204
    assert scim.get(f"{BASE}/Users/{user['id']}").status_code == 404
    uid = uuid.UUID(user["id"])
    with tenant_context(session, tenant_a.tenant.id):
        row = session.get(User, uid)
        assert row is not None
        assert row.email == f"{uid.hex}@erased.invalid"
        assert row.display_name == f"Erased user {uid.hex[:8]}"
        assert (
            session.scalars(select(IdentityLink).where(IdentityLink.user_id == uid)).first() is None
        )
        events = session.scalars(select(AuditEvent).where(AuditEvent.target_id == str(uid))).all()
        assert {e.action for e in events} >= {
            "scim.user.created",
            "scim.user.updated",
            "user.erased",
        }
        trail = json.dumps([e.changes for e in events])
        assert "gone@tenant-a.example.com" not in trail
        assert "Gone Person" not in trail
        flags = session.scalars(select(OwnershipFlag)).all()
        assert [(f.object_id, f.former_owner_id) for f in flags] == [(objective_id, uid)]
        notes = session.scalars(select(Notification)).all()
        assert all("Gone Person" not in n.title + n.body for n in notes)
