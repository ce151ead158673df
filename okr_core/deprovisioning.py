"""Deprovisioning: ending a person's access, and removing them when their IdP says so.

* ``deactivate`` blocks sign-in and ends every session at once (the session epoch moves on,
  and every request re-checks it), flags what the person owned for reassignment and tells the
  tenant admins.
* ``delete_user`` follows the tenant's policy: ``soft`` deactivates and hides the person from
  provisioning, keeping them for the retention period (``purge_expired`` erases them later);
  ``hard`` erases at once.
* ``erase_user`` removes personal data but keeps the row as a pseudonymous tombstone, so
  objectives, check-ins and the append-only audit trail keep pointing at a valid id that no
  longer says who it was.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from okr_core import audit, notifications
from okr_core.actors import Actor
from okr_core.models import (
    DeletionMode,
    GroupMembership,
    IdentityLink,
    KeyResult,
    Objective,
    OwnershipFlag,
    User,
    UserEmail,
    UserRole,
)
from okr_core.provisioning import get_settings
from okr_core.tenancy import require_tenant
from okr_core.users import end_sessions

ERASED_DOMAIN = "erased.invalid"


def pseudonym(value: object, *, tenant_id: uuid.UUID) -> str:
    """A stable, non-reversible stand-in for a personal value (audit trails keep this)."""
    data = f"{tenant_id}:{value}".encode()
    return "pseudonym:" + hashlib.sha256(data).hexdigest()[:16]


def erased_label(user_id: uuid.UUID) -> str:
    return f"Erased user {user_id.hex[:8]}"


@dataclass(frozen=True, slots=True)
class Outcome:
    user_id: uuid.UUID
    flagged_objectives: int
    flagged_key_results: int


def flag_owned_objects(session: Session, *, user: User, reason: str) -> tuple[int, int]:
    """Flag the user's objectives and key results for reassignment (once per object)."""
    require_tenant(session)
    already = {
        (flag.object_type, flag.object_id)
        for flag in session.scalars(
            select(OwnershipFlag).where(
                OwnershipFlag.former_owner_id == user.id, OwnershipFlag.resolved_at.is_(None)
            )
        )
    }
    counts = []
    for object_type, model in (("objective", Objective), ("key_result", KeyResult)):
        ids = session.scalars(select(model.id).where(model.owner_id == user.id)).all()
        fresh = [i for i in ids if (object_type, i) not in already]
        for object_id in fresh:
            session.add(
                OwnershipFlag(
                    object_type=object_type,
                    object_id=object_id,
                    former_owner_id=user.id,
                    reason=reason,
                )
            )
        counts.append(len(ids))
    return counts[0], counts[1]


def open_flags(session: Session, *, limit: int = 200) -> Sequence[OwnershipFlag]:
    require_tenant(session)
    stmt = (
        select(OwnershipFlag)
        .where(OwnershipFlag.resolved_at.is_(None))
        .order_by(OwnershipFlag.flagged_at.desc())
        .limit(limit)
    )
    return session.scalars(stmt).all()


def _notify_admins(
    session: Session, *, actor: Actor, user: User, what: str, outcome: Outcome
) -> None:
    owned = []
    if outcome.flagged_objectives:
        owned.append(f"{outcome.flagged_objectives} objective(s)")
    if outcome.flagged_key_results:
        owned.append(f"{outcome.flagged_key_results} key result(s)")
    body = f"{what} by {actor.label}."
    if owned:
        body += f" They owned {' and '.join(owned)}, now flagged for reassignment."
    notifications.notify(
        session,
        kind="user.deprovisioned",
        title=f"{user.display_name} was {what.lower()}",
        body=body,
        data={
            "user_id": str(user.id),
            "flagged_objectives": outcome.flagged_objectives,
            "flagged_key_results": outcome.flagged_key_results,
        },
        subject_type="user",
        subject_id=user.id,
    )


def deactivate(session: Session, *, actor: Actor, user: User, reason: str) -> Outcome:
    """Block sign-in and end every session now; flag owned work; notify admins."""
    was_active = user.is_active
    user.is_active = False
    end_sessions(session, user=user)
    objectives, key_results = flag_owned_objects(session, user=user, reason=reason)
    outcome = Outcome(user.id, objectives, key_results)
    if was_active:
        audit.record(
            session,
            actor=actor,
            action="user.deactivated",
            target_type="user",
            target_id=user.id,
            changes={"active": {"from": True, "to": False}, "reason": reason},
        )
        _notify_admins(session, actor=actor, user=user, what="Deactivated", outcome=outcome)
    return outcome


def reactivate(session: Session, *, actor: Actor, user: User) -> None:
    if user.is_active:
        return
    user.is_active = True
    audit.record(
        session,
        actor=actor,
        action="user.reactivated",
        target_type="user",
        target_id=user.id,
        changes={"active": {"from": False, "to": True}},
    )


def delete_user(
    session: Session, *, actor: Actor, user: User, now: datetime | None = None
) -> DeletionMode:
    """Remove a provisioned user as the tenant's policy says; returns the mode applied."""
    now = now or datetime.now(UTC)
    settings = get_settings(session)
    if settings.deletion_mode is DeletionMode.hard:
        erase_user(session, actor=actor, user=user, reason="deleted")
        return DeletionMode.hard
    was_active = user.is_active
    user.is_active = False
    end_sessions(session, user=user)
    objectives, key_results = flag_owned_objects(session, user=user, reason="deleted")
    purge_after = now + timedelta(days=settings.retention_days)
    for link in session.scalars(select(IdentityLink).where(IdentityLink.user_id == user.id)):
        link.deleted_at = now
        link.purge_after = purge_after
    session.execute(delete(GroupMembership).where(GroupMembership.user_id == user.id))
    audit.record(
        session,
        actor=actor,
        action="user.deleted",
        target_type="user",
        target_id=user.id,
        changes={
            "mode": "soft",
            "active": {"from": was_active, "to": False},
            "purge_after": purge_after.isoformat(),
        },
    )
    _notify_admins(
        session,
        actor=actor,
        user=user,
        what="Deleted",
        outcome=Outcome(user.id, objectives, key_results),
    )
    return DeletionMode.soft


def erase_user(session: Session, *, actor: Actor, user: User, reason: str) -> None:
    """Remove the person's personal data now; keep a pseudonymous tombstone row.

    Audit events keep referring to the user's id, which from now on resolves to
    "Erased user 1a2b3c4d" and nothing else.
    """
    tenant_id = require_tenant(session)
    objectives, key_results = flag_owned_objects(session, user=user, reason=reason)
    outcome = Outcome(user.id, objectives, key_results)
    _notify_admins(session, actor=actor, user=user, what="Erased", outcome=outcome)
    session.flush()
    label = erased_label(user.id)
    notifications.scrub_subject(session, subject_id=user.id, title=f"{label} was deprovisioned")
    session.execute(delete(IdentityLink).where(IdentityLink.user_id == user.id))
    session.execute(delete(UserEmail).where(UserEmail.user_id == user.id))
    session.execute(delete(GroupMembership).where(GroupMembership.user_id == user.id))
    session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    user.email = f"{user.id.hex}@{ERASED_DOMAIN}"
    user.display_name = label
    user.password_hash = None
    user.last_login_at = None
    user.is_active = False
    end_sessions(session, user=user)
    audit.record(
        session,
        actor=actor,
        action="user.erased",
        target_type="user",
        target_id=user.id,
        changes={"reason": reason, "pseudonym": pseudonym(user.id, tenant_id=tenant_id)},
    )


def purge_expired(session: Session, *, actor: Actor, now: datetime | None = None) -> int:
    """Erase soft-deleted users whose retention period is over; returns how many."""
    require_tenant(session)
    now = now or datetime.now(UTC)
    stmt = (
        select(User)
        .join(IdentityLink, IdentityLink.user_id == User.id)
        .where(IdentityLink.deleted_at.is_not(None), IdentityLink.purge_after <= now)
    )
    expired = session.scalars(stmt).unique().all()
    for user in expired:
        erase_user(session, actor=actor, user=user, reason="retention_expired")
    return len(expired)
