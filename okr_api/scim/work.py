"""A SCIM request's unit of work in one thread-pool hop: authenticate, run the service, commit.

Identity providers provision by the thousand, and for a request that costs a millisecond or
two, every hop between the event loop and the thread pool counts (each is a couple of hundred
microseconds of CPU here). A synchronous endpoint with the usual session dependency makes
three: the session's set-up, the endpoint, the session's commit. The provisioning hot paths
(create a user, create a group, change a group; see ``hot_routes``) use :class:`ScimWork`
instead: the session is
created without I/O, a remembered token is checked without I/O, and :meth:`ScimWork.run` runs
the service and commits (or rolls back) in a single hop. Services still never commit; this
request-scoped unit of work does, once, before the response is sent, so a failed commit is an
error response, never a lost write after a 2xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from okr_api.scim.auth import ScimClient, authenticate

T = TypeVar("T")


class ScimWork:
    """The session and the authenticated client of one SCIM request, and its one commit."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._client: ScimClient | None = None
        self.finished = False

    @property
    def client(self) -> ScimClient:
        if self._client is None:
            raise RuntimeError("the SCIM client is not authenticated yet")
        return self._client

    async def authenticate(self, request: Request) -> None:
        self._client = await authenticate(request, self.session)

    async def run(self, service: Callable[[Session, ScimClient], T]) -> T:
        """``service(session, client)``, then commit; roll back on error. One hop."""
        client = self.client
        return await run_in_threadpool(self._run, service, client)

    def _run(self, service: Callable[[Session, ScimClient], T], client: ScimClient) -> T:
        try:
            result = service(self.session, client)
            self.commit()
        except BaseException:
            self.rollback()
            raise
        finally:
            self.finished = True
            self.close()
        return result

    # The unit of work's ends; tests replace them with a savepoint's.
    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def close(self) -> None:
        self.session.close()

    def release_sync(self) -> None:
        """After a request that never ran its work (e.g. refused before): end it."""
        try:
            self.rollback()
        finally:
            self.close()

    async def release(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.session.in_transaction():
            await run_in_threadpool(self.release_sync)  # a round trip: not on the loop
        else:
            self.close()
