"""Server-rendered admin UI pages under /admin.

Every page needs a signed-in user (anonymous visitors are redirected to the sign-in page) and
renders inside the shell with the navigation; see ``okr_api.admin.auth`` for how failures look.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from okr_api.admin import api_keys, audit_log, integrations, provisioning, service
from okr_api.admin.auth import AdminPageRoute, PageViewer, track_unit_of_work
from okr_api.admin.rendering import render_page
from okr_api.database import SessionDep
from okr_core.errors import NotFound

router = APIRouter(
    prefix="/admin",
    include_in_schema=False,
    route_class=AdminPageRoute,
    dependencies=[Depends(track_unit_of_work)],
)


@dataclass(frozen=True, slots=True)
class ComingSoon:
    title: str
    summary: str


# Honest placeholders until the issues that build these pages land.
COMING_SOON = {
    "sso": ComingSoon(
        "Single sign-on",
        "Let your people sign in through your identity provider (Entra ID, Okta or Google) with "
        "OIDC or SAML, and map its groups to roles here.",
    ),
}


@router.get("/", name="admin_home")
def home(_principal: PageViewer) -> RedirectResponse:
    """The landing page after sign-in is the objectives overview."""
    return RedirectResponse("/admin/objectives", status_code=303)


@router.get("/objectives", response_class=HTMLResponse, name="admin_objectives")
def objectives_page(
    request: Request, session: SessionDep, _principal: PageViewer, period: str | None = None
) -> HTMLResponse:
    overview = service.objectives_overview(session, period=period)
    return render_page(request, "objectives.html", active="objectives", overview=overview)


@router.get("/key-results/{key_result_id}", response_class=HTMLResponse, name="admin_key_result")
def key_result_page(
    request: Request, session: SessionDep, _principal: PageViewer, key_result_id: str
) -> HTMLResponse:
    detail = service.key_result_detail(session, service.parse_id(key_result_id, noun="key result"))
    return render_page(request, "key_result.html", active="objectives", detail=detail)


def _coming_soon_route(key: str) -> None:
    page = COMING_SOON[key]

    def coming_soon(request: Request, _principal: PageViewer) -> HTMLResponse:
        return render_page(request, "coming_soon.html", active=key, page=page)

    coming_soon.__name__ = f"admin_{key.replace('-', '_')}"
    router.add_api_route(
        f"/{key}",
        coming_soon,
        methods=["GET"],
        response_class=HTMLResponse,
        name=coming_soon.__name__,
    )


for _key in COMING_SOON:
    _coming_soon_route(_key)


router.include_router(integrations.router, prefix="/integrations")
router.include_router(api_keys.router, prefix="/api-keys")


router.include_router(provisioning.router, prefix="/provisioning")
router.include_router(audit_log.router, prefix="/audit-log")


# Last: any other /admin path is a styled 404 (after the same sign-in check as real pages).
@router.get("/{path:path}", response_class=HTMLResponse, name="admin_not_found")
def not_found_page(path: str, _principal: PageViewer) -> HTMLResponse:
    raise NotFound(f"There is no page at /admin/{path}.")
