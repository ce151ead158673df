"""``okr-hub tenants``: create and list customer organisations (platform rows, owner access)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from okr_api.cli.console import out
from okr_api.cli.session import owner_session
from okr_core import tenants
from okr_core.settings import load_settings

app = typer.Typer(help="Tenants (customer organisations).", no_args_is_help=True)


@app.command("create")
def create(
    slug: Annotated[str, typer.Argument(help="Sign-in handle: lowercase letters, digits, '-'.")],
    name: Annotated[str, typer.Option("--name", help="Display name of the organisation.")],
) -> None:
    """Create a tenant and print its id alone, so scripts can capture it."""
    with owner_session(load_settings()) as session:
        tenant_id = tenants.create_tenant(session, slug=slug, name=name).id
    out.print(str(tenant_id), markup=False)


@app.command("list")
def list_() -> None:
    """Show every tenant with its status."""
    with owner_session(load_settings()) as session:
        rows = [
            (t.slug, t.name, t.status.value, f"{t.created_at:%Y-%m-%d}", str(t.id))
            for t in tenants.list_tenants(session)
        ]
    if not rows:
        out.print("No tenants yet. Create one with `okr-hub tenants create SLUG --name NAME`.")
        return
    table = Table(title="Tenants", box=box.SIMPLE_HEAD)
    table.add_column("Slug", no_wrap=True)
    table.add_column("Name", min_width=10)
    table.add_column("Status", no_wrap=True)
    table.add_column("Created", no_wrap=True)
    table.add_column("Id", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: names are data, not rich markup
    if out.is_terminal:
        out.print(table)
        return
    # Piped output is not squeezed to 80 columns: scripts should get whole ids and names.
    width = Measurement.get(out, out.options.update_width(10_000), table).maximum
    Console(file=out.file, width=width, highlight=False).print(table)
