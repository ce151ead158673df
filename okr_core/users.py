"""Users of the current tenant, their roles, and local (break-glass) authentication."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import Conflict, ValidationFailed
from okr_core.models import User, UserRole
from okr_core.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from okr_core.repository import get_owned
from okr_core.role_mappings import resolve_role
from okr_core.roles import Role


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(f"email is not valid: {exc}", details={"field": "email"}) from exc


def create_user(
    session: Session,
    *,
    actor: Actor,
    email: str,
    display_name: str,
    password: str | None = None,
    roles: Sequence[Role] = (Role.viewer,),
) -> User:
    email = normalise_email(email)
    if find_user_by_email(session, email=email) is not None:
        raise Conflict(f"a user with email {email} already exists", details={"field": "email"})
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters",
            details={"field": "password"},
        )
    user = User(
        email=email,
        display_name=display_name.strip() or email,
        password_hash=hash_password(password) if password else None,
        is_active=True,
    )
    session.add(user)
    session.flush()
    for role in set(roles):
        session.add(UserRole(user_id=user.id, role=role))
    audit.record(
        session,
        actor=actor,
        action="user.created",
        target_type="user",
        target_id=user.id,
        changes={
            "email": email,
            "roles": sorted(r.value for r in roles),
            "password": "set" if password else None,
        },
    )
    session.flush()
    return user


def find_user_by_email(session: Session, *, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.strip().lower())).first()


def get_user(session: Session, user_id: uuid.UUID) -> User:
    return get_owned(session, User, user_id, noun="user")


def check_owner(session: Session, owner_id: uuid.UUID | None) -> None:
    """Owners must be users of the current tenant; anything else is a validation error."""
    if owner_id is None:
        return
    if session.scalars(select(User.id).where(User.id == owner_id)).first() is None:
        raise ValidationFailed(
            f"owner_id {owner_id} is not a user of this tenant", details={"field": "owner_id"}
        )


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.display_name)).all()


def effective_role(session: Session, user: User) -> Role | None:
    """The highest role the user holds directly or through a mapped group, else the default.

    Group-to-role mappings and the tenant's default role live in ``okr_core.role_mappings``.
    """
    roles = session.scalars(select(UserRole.role).where(UserRole.user_id == user.id)).all()
    return resolve_role(session, direct=roles, user_id=user.id)


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """The active user with this email and password, or None. Always verifies a hash."""
    try:
        user = find_user_by_email(session, email=normalise_email(email))
    except ValidationFailed:
        user = None
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        return None
    user.last_login_at = datetime.now(UTC)
    return user


def end_sessions(session: Session, *, user: User) -> None:
    """Invalidate every signed-in session of ``user`` (their cookies carry the old epoch)."""
    user.session_epoch += 1
