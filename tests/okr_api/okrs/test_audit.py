"""Every write through /api/v1 leaves an audit event naming the signed-in user."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.models import AuditEvent
from okr_core.roles import Role
from okr_core.tenancy import tenant_context
from tests.okr_api.conftest import TenantWorld
from tests.okr_api.okrs.conftest import SEED_ACTOR, Seeded
from tests.okr_api.okrs.endpoints import BY_ID

EXPECTED_ACTIONS = {
    "objective_create": "objective.created",
    "objective_update": "objective.updated",
    "objective_archive": "objective.updated",
    "key_result_create": "key_result.created",
    "key_result_update": "key_result.updated",
    "key_result_archive": "key_result.updated",
    "check_in_create": "check_in.created",
    "check_in_update": "check_in.updated",
    "check_in_archive": "check_in.archived",
}


def _events_by_users(session: Session, world: TenantWorld) -> list[AuditEvent]:
    with tenant_context(session, world.tenant.id):
        stmt = select(AuditEvent).where(AuditEvent.actor_label != SEED_ACTOR.label)
        return list(session.scalars(stmt.where(AuditEvent.actor_type == "user")))


@pytest.mark.parametrize("operation_id", sorted(EXPECTED_ACTIONS))
def test_write_is_audited_with_the_caller_as_actor(
    editor: TestClient,
    seeded: Seeded,
    session: Session,
    tenant_a: TenantWorld,
    operation_id: str,
) -> None:
    response = BY_ID[operation_id].request(editor, seeded)
    assert response.is_success, response.text
    (event,) = _events_by_users(session, tenant_a)
    user = tenant_a.users[Role.okr_editor]
    assert (event.actor_id, event.actor_label) == (str(user.id), user.email)
    assert event.action == EXPECTED_ACTIONS[operation_id]
    assert event.target_id in {response.json()["id"], response.json().get("key_result_id")}


def test_archive_records_the_status_change_once(
    editor: TestClient, seeded: Seeded, session: Session, tenant_a: TenantWorld
) -> None:
    for _ in range(2):
        assert editor.post(f"/api/v1/objectives/{seeded.objective_id}/archive").is_success
    (event,) = _events_by_users(session, tenant_a)
    assert event.changes == {"status": {"from": "active", "to": "archived"}}


@pytest.mark.parametrize("operation_id", ["objective_update", "key_result_update"])
def test_refused_write_leaves_no_audit_event(
    editor: TestClient,
    seeded: Seeded,
    session: Session,
    tenant_a: TenantWorld,
    operation_id: str,
) -> None:
    path = BY_ID[operation_id].path
    assert editor.patch(seeded.fill(path), json={"title": ""}).status_code == 422
    assert _events_by_users(session, tenant_a) == []
