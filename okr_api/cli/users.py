"""``okr-hub users``: bootstrap a tenant's first administrator with a local password.

The password is shown once on stdout, alone on the last line so automation can read it with
``tail -n 1``; it is never logged, audited or put in an error message.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from okr_api.cli.console import out
from okr_api.cli.session import owner_session
from okr_core import tenants, users
from okr_core.actors import Actor
from okr_core.passwords import generate_password
from okr_core.roles import Role
from okr_core.settings import load_settings
from okr_core.tenancy import tenant_context

app = typer.Typer(help="Users of a tenant.", no_args_is_help=True)


@app.command("create-admin")
def create_admin(
    tenant: Annotated[str, typer.Option("--tenant", help="Slug of the tenant.")],
    email: Annotated[str, typer.Option("--email", help="The admin's email address.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="Use this password (visible in process listings); default: generate one.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a tenant_admin who can sign in with a local (break-glass) password."""
    generated = password is None
    secret = generate_password() if password is None else password
    with owner_session(load_settings()) as session:
        owner = tenants.get_tenant_by_slug(session, tenant)
        with tenant_context(session, owner.id):
            user = users.create_user(
                session,
                actor=Actor.cli(),
                email=email,
                display_name=name or "",
                password=secret,
                roles=[Role.tenant_admin],
            )
        slug, user_email = owner.slug, user.email
    out.print(f"Created tenant admin [bold]{escape(user_email)}[/] in tenant {escape(slug)}.")
    if generated:
        out.print("Generated password (shown once, store it now):")
        out.print(secret, markup=False, soft_wrap=True)
