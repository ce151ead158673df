"""Alembic environment: runs as the database owner, with the URL from settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import okr_core.models  # noqa: F401  (registers every table on the metadata)
from okr_core.db.base import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from okr_core.db.engine import make_engine
    from okr_core.settings import load_settings

    engine = make_engine(load_settings(), as_owner=True)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
