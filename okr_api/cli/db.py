"""``okr-hub db``: schema migrations, run as the database owner (never the services' role)."""

from __future__ import annotations

import typer
from alembic.script import Script, ScriptDirectory
from rich.markup import escape
from sqlalchemy.engine import make_url

from okr_api.cli.console import out
from okr_core.db.migrate import alembic_config, current_revision, upgrade
from okr_core.settings import Settings, load_settings

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def display_url(settings: Settings) -> str:
    """The owner's database URL with any password masked, safe to print and to log."""
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def pending_revisions(settings: Settings) -> list[Script]:
    """Migrations between the database's revision and head, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    current = current_revision(settings)
    return list(reversed(list(script.iterate_revisions("heads", current))))


def migrate(settings: Settings) -> str | None:
    """Apply pending migrations one at a time so the operator sees which step runs (or fails)."""
    pending = pending_revisions(settings)
    if not pending:
        revision = current_revision(settings)
        out.print(f"Database is up to date at revision [bold]{escape(str(revision))}[/].")
        return revision
    out.print(f"Migrating {escape(display_url(settings))} ({len(pending)} pending)")
    for step in pending:
        label = f"{step.revision} {_summary(step)}"
        with out.status(f"Applying {escape(label)}"):
            upgrade(settings, step.revision)
        out.print(f"  [green]✓[/] {escape(label)}")
    revision = current_revision(settings)
    out.print(f"Database is at revision [bold]{escape(str(revision))}[/] (head).")
    return revision


def _summary(step: Script) -> str:
    doc = (step.doc or "").strip().splitlines()
    text = doc[0] if doc else ""
    return text if len(text) <= 70 else text[:69] + "…"


@app.command("upgrade")
def upgrade_command() -> None:
    """Bring the schema to the latest revision; safe to run on every deploy."""
    migrate(load_settings())


@app.command("current")
def current_command() -> None:
    """Print the schema's revision, and how many migrations are pending, if any."""
    settings = load_settings()
    revision = current_revision(settings)
    pending = len(pending_revisions(settings))
    if pending:
        out.print(
            f"{revision or 'none'} ({pending} pending; run `okr-hub db upgrade`)", markup=False
        )
    else:
        out.print(f"{revision} (head)", markup=False)
