"""``okr-hub api-keys``: issue public API keys for automation, and set a tenant's rate limits.

``create`` prints the new key alone on its last line (``tail -n 1`` captures it); the key is
shown this once and never logged or audited, only its digest is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape

from okr_api.cli.console import out
from okr_api.cli.session import owner_session
from okr_core import api_keys, tenants
from okr_core.actors import Actor
from okr_core.api_keys import ApiKeyCodec, Scope
from okr_core.settings import load_settings
from okr_core.tenancy import tenant_context

app = typer.Typer(help="Public API keys and rate limits of a tenant.", no_args_is_help=True)


@app.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", help="Slug of the tenant.")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help=f"Repeat for several: {', '.join(s.value for s in Scope)}.",
            show_default=False,
        ),
    ],
    expires_in_days: Annotated[
        int | None,
        typer.Option("--expires-in-days", min=1, help="Stop working after this many days."),
    ] = None,
) -> None:
    """Create a key; the key itself is printed alone on the last line."""
    settings = load_settings()
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with owner_session(settings) as session:
        owner = tenants.get_tenant_by_slug(session, tenant)
        with tenant_context(session, owner.id):
            issued = api_keys.create_api_key(
                session,
                actor=Actor.cli(),
                codec=ApiKeyCodec.from_settings(settings),
                name=name,
                scopes=scope,
                expires_at=expires_at,
            )
            key_id, scopes = issued.key.id, ", ".join(issued.key.scopes)
        slug = owner.slug
    out.print(f"Created API key {key_id} in tenant {escape(slug)} with scopes {escape(scopes)}.")
    out.print("The key (shown once, store it now):")
    out.print(issued.secret, markup=False, soft_wrap=True)


@app.command("set-limits")
def set_limits(
    tenant: Annotated[str, typer.Option("--tenant", help="Slug of the tenant.")],
    per_key: Annotated[
        str | None,
        typer.Option("--per-key", help="Like 1200/minute; omit for the deployment default."),
    ] = None,
    per_tenant: Annotated[
        str | None,
        typer.Option("--per-tenant", help="Like 6000/minute; omit for the deployment default."),
    ] = None,
) -> None:
    """Override the public API's rate limits for one tenant (platform operators)."""
    with owner_session(load_settings()) as session:
        owner = tenants.get_tenant_by_slug(session, tenant)
        with tenant_context(session, owner.id):
            row = api_keys.set_rate_limits(
                session, actor=Actor.cli(), per_key=per_key, per_tenant=per_tenant
            )
            summary = (
                f"per key {row.per_key or 'default'}, per tenant {row.per_tenant or 'default'}"
            )
    out.print(f"Rate limits of {escape(tenant)}: {escape(summary)}.")
