"""Run Alembic migrations programmatically (CLI, demo, tests) as the database owner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

from okr_core.db.engine import make_engine
from okr_core.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url)
    config.attributes["app_role"] = settings.database_app_role
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run repeatedly."""
    _migrate(settings, command.upgrade, revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Step the schema down to ``revision`` (each migration's downgrade, as the owner)."""
    _migrate(settings, command.downgrade, revision)


def _migrate(settings: Settings, step: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config(settings)
    engine = make_engine(settings, as_owner=True)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, revision)
    finally:
        engine.dispose()


def current_revision(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(settings, as_owner=True)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
