"""Notifications for the people of a tenant who hold a role (tenant admins by default).

Generic on purpose: provisioning, integration sync failures and anything else that needs an
admin's attention write here, and the admin UI lists what the signed-in user may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okr_core.models import Notification
from okr_core.roles import Role
from okr_core.tenancy import require_tenant


def notify(
    session: Session,
    *,
    kind: str,
    title: str,
    body: str = "",
    audience: Role = Role.tenant_admin,
    data: Mapping[str, Any] | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
) -> Notification:
    """Queue one notification for everyone in the tenant holding ``audience`` or higher."""
    require_tenant(session)
    notification = Notification(
        audience=audience,
        kind=kind,
        title=title[:300],
        body=body,
        data=dict(data or {}),
        subject_type=subject_type,
        subject_id=subject_id,
    )
    session.add(notification)
    return notification


def visible_to(
    session: Session, *, role: Role, limit: int = 50, unread_only: bool = False
) -> Sequence[Notification]:
    """The newest notifications a holder of ``role`` may see."""
    require_tenant(session)
    audiences = [r for r in Role if r.rank <= role.rank]
    stmt = select(Notification).where(Notification.audience.in_(audiences))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return session.scalars(stmt).all()


def mark_read(session: Session, *, notification_id: uuid.UUID) -> None:
    require_tenant(session)
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
    )


def scrub_subject(session: Session, *, subject_id: uuid.UUID, title: str) -> None:
    """Replace the text of notifications about a subject (used when a person is erased)."""
    require_tenant(session)
    session.execute(
        update(Notification)
        .where(Notification.subject_id == subject_id)
        .values(title=title, body="", data={})
    )
