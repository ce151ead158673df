"""The ``okr-hub`` application: wires the command groups and renders expected errors.

Expected failures are caught once, in :class:`OkrHubGroup`, rather than in every command, so a new
command cannot forget to turn a domain error into a clean one-line message.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from okr_api.cli import api_keys, db, demo, sandbox, scim_tokens, serve, tenants, users
from okr_api.cli.console import CliError, expected_error_message, print_error


class OkrHubGroup(TyperGroup):
    """The root group: expected errors become one red line and exit code 1 (or the error's)."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer vendors click; its Context is private
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = expected_error_message(exc)
            if message is None:
                raise
            print_error(message)
            raise typer.Exit(code=exc.code if isinstance(exc, CliError) else 1) from None


app = typer.Typer(
    name="okr-hub",
    cls=OkrHubGroup,
    help="Operate OKR Enterprise Hub: migrations, tenants, admins, the API and the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(tenants.app, name="tenants")
app.add_typer(users.app, name="users")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(scim_tokens.app, name="scim-tokens")
app.add_typer(scim_tokens.provisioning_app, name="provisioning")
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("sandbox", context_settings=sandbox.PASS_THROUGH)(sandbox.sandbox)
