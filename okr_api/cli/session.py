"""The CLI's unit of work: operator tasks run as the database owner, across tenants."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.settings import Settings


@contextmanager
def owner_session(settings: Settings) -> Iterator[Session]:
    """Commit once on success and release every connection, since a CLI run is short-lived.

    Tenant-owned writes still go through ``tenant_context``, so row-level security policies and
    the ORM's tenant filter apply exactly as they do in the services.
    """
    engine = make_engine(settings, as_owner=True)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()
