"""Units of work for code that writes from many threads at once (a batch of tenant syncs).

On PostgreSQL this is exactly :func:`okr_core.db.engine.unit_of_work`. SQLite (the embedded
default) has one writer per file, and a deferred transaction that read first and writes later
fails at once (``database is locked``, no busy wait) when another connection wrote meanwhile.
So on SQLite the threads of one process take turns: one unit of work at a time. Units are kept
short by their callers (no network call or long computation inside one), so the turns are
milliseconds; processes still meet SQLite's own busy timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from okr_core.db.engine import unit_of_work

_SQLITE_WRITER = threading.RLock()


def is_sqlite(factory: sessionmaker[Session]) -> bool:
    bind = factory.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"


@contextmanager
def unit(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that commits on success; serialised per process on SQLite."""
    if is_sqlite(factory):
        with _SQLITE_WRITER, unit_of_work(factory) as session:
            yield session
    else:
        with unit_of_work(factory) as session:
            yield session
