"""Rendering admin pages: the signed-in shell's navigation, page responses and error pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from okr_api.admin.formatting import FILTERS
from okr_api.templating import templates

# The shared environment also renders the sign-in page; the filters only add names to it.
templates.env.filters.update(FILTERS)


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    label: str
    href: str
    icon: str
    admin_only: bool = False


NAV_WORKSPACE = (NavItem("objectives", "Objectives", "/admin/objectives", "target"),)
NAV_ADMINISTRATION = (
    NavItem("integrations", "Integrations", "/admin/integrations", "plug"),
    NavItem("api-keys", "API keys", "/admin/api-keys", "key"),
    NavItem("sso", "Single sign-on", "/admin/sso", "shield"),
    NavItem("provisioning", "Provisioning", "/admin/provisioning", "users"),
    NavItem("audit-log", "Audit log", "/admin/audit-log", "list", admin_only=True),
)

_ERRORS = {
    403: ("You don't have access to this page", "lock"),
    404: ("We couldn't find that page", "search"),
    409: ("That conflicts with what is already there", "alert"),
    422: ("That request isn't valid", "alert"),
    429: ("Too many requests", "alert"),
}


def render_page(
    request: Request,
    template: str,
    *,
    active: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page inside the signed-in shell; the principal comes from the page's auth dependency."""
    response = templates.TemplateResponse(
        request,
        template,
        {
            "principal": getattr(request.state, "principal", None),
            "nav_workspace": NAV_WORKSPACE,
            "nav_administration": NAV_ADMINISTRATION,
            "active": active,
            **context,
        },
        status_code=status_code,
    )
    # Pages hold one tenant's data: keep them out of shared and back-button caches.
    response.headers["Cache-Control"] = "no-store"
    return response


def render_error(request: Request, *, status: int, message: str) -> HTMLResponse:
    """The styled error page: inside the shell when we know who is asking, standalone if not."""
    title, icon = _ERRORS.get(status, ("Something went wrong", "alert"))
    return render_page(
        request,
        "error.html",
        active=_nav_key_for(request.url.path),
        status_code=status,
        status=status,
        title=title,
        icon=icon,
        message=message,
    )


def _nav_key_for(path: str) -> str | None:
    """The navigation entry a path belongs to, so an error page still shows where you are."""
    for item in (*NAV_WORKSPACE, *NAV_ADMINISTRATION):
        if path == item.href or path.startswith(f"{item.href}/"):
            return item.key
    if path.startswith("/admin/key-results/"):
        return "objectives"
    return None
