"""Who may open admin pages, and what people see when they may not.

The API answers failures with JSON problem details; a person in a browser needs a page instead.
``AdminPageRoute`` turns the same domain errors the API raises into that: anonymous visitors are
sent to the sign-in page (and back afterwards), other expected failures get a styled error page.
The request's unit of work is rolled back first, so a failed page never commits anything.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from okr_api.admin.rendering import render_error
from okr_api.auth.dependencies import CurrentPrincipal
from okr_api.auth.principal import Principal
from okr_api.database import SessionDep
from okr_core.errors import NotAuthenticated, OkrError, PermissionDenied
from okr_core.roles import Role

_STATE_SESSION = "admin_db_session"
_ROLE_NAMES = {
    Role.viewer: "viewers",
    Role.okr_editor: "OKR editors",
    Role.tenant_admin: "tenant admins",
    Role.platform_operator: "platform operators",
}


def sign_in_url(request: Request) -> str:
    """``/sign-in?next=<this page>`` so signing in returns the visitor where they were going."""
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    return f"/sign-in?next={quote(target, safe='/')}"


class AdminPageRoute(APIRoute):
    """A route whose expected failures render as pages (or a sign-in redirect), not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except OkrError as exc:
                if exc.status >= 500:
                    raise  # a programming error: the app's handler logs it with a request id
                await _discard_unit_of_work(request)
                if isinstance(exc, NotAuthenticated):
                    return RedirectResponse(sign_in_url(request), status_code=303)
                return render_error(request, status=exc.status, message=exc.message)

        return handle


def track_unit_of_work(request: Request, session: SessionDep) -> None:
    """Remember the request's DB session so a failed page can roll it back."""
    setattr(request.state, _STATE_SESSION, session)


async def _discard_unit_of_work(request: Request) -> None:
    session = getattr(request.state, _STATE_SESSION, None)
    if isinstance(session, Session):
        await run_in_threadpool(session.rollback)


def page_principal(request: Request, principal: CurrentPrincipal) -> Principal:
    """The signed-in user, kept on the request so even error pages show the navigation."""
    request.state.principal = principal
    return principal


def require_page_role(minimum: Role) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
        if not principal.can(minimum):
            raise PermissionDenied(
                f"This page is for {_ROLE_NAMES[minimum]} only. Ask one of your organisation's "
                "tenant admins if you need access."
            )
        return principal

    check.__name__ = f"require_page_{minimum.value}"
    return check


PageViewer = Annotated[Principal, Depends(require_page_role(Role.viewer))]
PageTenantAdmin = Annotated[Principal, Depends(require_page_role(Role.tenant_admin))]
