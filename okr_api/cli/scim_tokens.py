"""``okr-hub scim-tokens`` and ``okr-hub provisioning``: SCIM credentials and retention.

``scim-tokens create`` prints the new token alone on its last line (``tail -n 1`` captures
it); the token is shown this once, only its digest is stored. ``provisioning purge-expired``
erases soft-deleted users whose retention period is over, in every tenant (run it daily).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.markup import escape

from okr_api.cli.console import out
from okr_api.cli.session import owner_session
from okr_core import deprovisioning, scim_tokens, tenants
from okr_core.actors import Actor
from okr_core.settings import load_settings
from okr_core.tenancy import tenant_context

app = typer.Typer(help="SCIM provisioning tokens of a tenant.", no_args_is_help=True)
provisioning_app = typer.Typer(help="Provisioning housekeeping.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="Slug of the tenant.")]


@app.command("create")
def create(
    tenant: TenantOption,
    name: Annotated[str, typer.Option("--name", help="Which identity provider uses it.")],
) -> None:
    """Create a SCIM token; the token itself is printed alone on the last line."""
    settings = load_settings()
    with owner_session(settings) as session:
        owner = tenants.get_tenant_by_slug(session, tenant)
        with tenant_context(session, owner.id):
            row, token = scim_tokens.create_token(
                session,
                actor=Actor.cli(),
                name=name,
                secret=settings.secret_key.get_secret_value(),
            )
            token_id = row.id
        slug = owner.slug
    out.print(f"Created SCIM token {token_id} for tenant {escape(slug)}.")
    out.print("SCIM base URL: <this service's URL>/scim/v2. The token (shown once, store it now):")
    out.print(token, markup=False, soft_wrap=True)


@app.command("list")
def list_tokens(tenant: TenantOption) -> None:
    """The tenant's SCIM tokens (never the tokens themselves)."""
    with owner_session(load_settings()) as session:
        owner = tenants.get_tenant_by_slug(session, tenant)
        with tenant_context(session, owner.id):
            for row in scim_tokens.list_tokens(session):
                state = "revoked" if row.revoked_at else "active"
                used = row.last_used_at.isoformat() if row.last_used_at else "never"
                out.print(f"{row.id}  {escape(row.name)}  {row.hint}…  {state}  last used {used}")


@app.command("revoke")
def revoke(tenant: TenantOption, token_id: Annotated[uuid.UUID, typer.Argument()]) -> None:
    """Revoke a token: the next SCIM request with it gets 401."""
    with owner_session(load_settings()) as session:
        owner = tenants.get_tenant_by_slug(session, tenant)
        with tenant_context(session, owner.id):
            scim_tokens.revoke_token(session, actor=Actor.cli(), token_id=token_id)
    out.print(f"Revoked SCIM token {token_id}.")


@provisioning_app.command("purge-expired")
def purge_expired() -> None:
    """Erase soft-deleted users whose retention period is over, in every tenant."""
    total = 0
    with owner_session(load_settings()) as session:
        for tenant in tenants.list_tenants(session):
            with tenant_context(session, tenant.id):
                total += deprovisioning.purge_expired(session, actor=Actor.cli())
    out.print(f"Erased {total} user(s) whose retention period was over.")
