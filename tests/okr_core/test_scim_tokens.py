"""SCIM tokens survive an ``OKR_SECRET_KEY`` rotation when the old secret is kept in
``OKR_SECRET_KEY_PREVIOUS``, as API keys do: an identity provider's token is not broken by a
deploy."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import scim_tokens, tenants
from okr_core.actors import Actor
from okr_core.models import AuditEvent, ScimToken
from okr_core.tenancy import tenant_context

OLD_SECRET = "the-old-secret-key-before-rotation-0123456789abcdef"
NEW_SECRET = "the-new-secret-key-after-rotation-0123456789abcdef"
ACTOR = Actor.system("test")


def _issue(session: Session, slug: str) -> tuple[uuid.UUID, str]:
    tenant = tenants.create_tenant(session, slug=slug, name=slug.title())
    with tenant_context(session, tenant.id):
        _, token = scim_tokens.create_token(session, actor=ACTOR, name="Okta", secret=OLD_SECRET)
    session.flush()
    return tenant.id, token


def test_token_digested_under_a_previous_secret_verifies_and_is_redigested(
    session: Session,
) -> None:
    tenant_id, token = _issue(session, "acme")

    # Without the previous secret the token is unknown: what a rotation would do to every token.
    assert scim_tokens.authenticate(session, presented=token, secret=NEW_SECRET) is None

    found = scim_tokens.authenticate(
        session, presented=token, secret=NEW_SECRET, previous_secrets=[OLD_SECRET]
    )
    assert found is not None
    assert found.tenant_id == tenant_id
    session.flush()
    with tenant_context(session, tenant_id):
        stored = session.scalars(select(ScimToken.digest)).one()
        audit = repr([(e.action, e.changes) for e in session.scalars(select(AuditEvent))])
    assert stored == scim_tokens.digest(token, secret=NEW_SECRET)

    # Re-digested: found under the current secret alone from now on.
    again = scim_tokens.authenticate(session, presented=token, secret=NEW_SECRET)
    assert again is not None
    assert again.id == found.id
    for value in (token, stored, scim_tokens.digest(token, secret=OLD_SECRET)):
        assert value not in audit


def test_previous_secrets_never_reach_another_tenants_token(session: Session) -> None:
    tenant_a, token_a = _issue(session, "acme")
    tenant_b, _ = _issue(session, "globex")
    found = scim_tokens.authenticate(
        session, presented=token_a, secret=NEW_SECRET, previous_secrets=[OLD_SECRET]
    )
    assert found is not None
    assert found.tenant_id == tenant_a != tenant_b
    assert (
        scim_tokens.authenticate(
            session,
            presented=token_a[:-1] + ("A" if token_a[-1] != "A" else "B"),
            secret=NEW_SECRET,
            previous_secrets=[OLD_SECRET],
        )
        is None
    )
