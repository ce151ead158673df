"""Break-glass local sign-in for admins, sign-out, and the session endpoint for scripts."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from okr_api.auth.csrf import SESSION_KEY, csrf_protect, csrf_token
from okr_api.auth.dependencies import (
    SESSION_EPOCH,
    SESSION_TENANT,
    SESSION_USER,
    CurrentPrincipal,
)
from okr_api.auth.throttle import LoginThrottle
from okr_api.database import SessionDep
from okr_api.templating import templates
from okr_core.errors import NotFound, TooManyRequests
from okr_core.models import TenantStatus
from okr_core.tenancy import bind_tenant
from okr_core.tenants import get_tenant_by_slug
from okr_core.users import authenticate

router = APIRouter(tags=["auth"])

DEFAULT_AFTER_SIGN_IN = "/admin/"
GENERIC_FAILURE = "The organisation, email or password is not right."


def _safe_next(target: str | None) -> str:
    """Only local paths, so the sign-in page cannot be used to redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return DEFAULT_AFTER_SIGN_IN


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


def _render_sign_in(request: Request, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    defaults = {"error": None, "organisation": "", "email": "", "next": ""}
    defaults.update(context)
    return templates.TemplateResponse(request, "sign_in.html", defaults, status_code=status_code)


@router.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
    csrf_token(request)
    return _render_sign_in(request, next=_safe_next(next))


@router.post(
    "/sign-in",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[Depends(csrf_protect)],
)
def sign_in(
    request: Request,
    session: SessionDep,
    organisation: Annotated[str, Form(max_length=63)],
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "",
) -> Response:
    throttle = _throttle(request)
    account_key = f"{organisation.strip().lower()}:{email.strip().lower()}"
    client_key = f"ip:{request.client.host if request.client else 'unknown'}"
    context = {"organisation": organisation, "email": email, "next": _safe_next(next)}
    try:
        throttle.check(account_key, client_key)
    except TooManyRequests as exc:
        response = _render_sign_in(request, status_code=429, error=exc.message, **context)
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    user = None
    try:
        tenant = get_tenant_by_slug(session, organisation)
    except NotFound:
        tenant = None
    if tenant is not None and tenant.status is TenantStatus.active:
        bind_tenant(session, tenant.id)
        user = authenticate(session, email=email, password=password)
    if tenant is None or user is None:
        throttle.record_failure(account_key, client_key)
        return _render_sign_in(request, status_code=401, error=GENERIC_FAILURE, **context)
    throttle.reset(account_key)
    # A fresh session on sign-in: nothing from before (including the CSRF token) carries over.
    request.session.clear()
    request.session.update(
        {
            SESSION_USER: str(user.id),
            SESSION_TENANT: str(tenant.id),
            SESSION_EPOCH: user.session_epoch,
            SESSION_KEY: secrets.token_urlsafe(32),
        }
    )
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/sign-out", include_in_schema=False, dependencies=[Depends(csrf_protect)])
def sign_out(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/sign-in", status_code=303)


@router.get("/api/v1/session", operation_id="session_read")
def read_session(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The signed-in user and the CSRF token that cookie-authenticated writes must send."""
    return {
        "user": {
            "id": str(principal.user_id),
            "email": principal.email,
            "display_name": principal.display_name,
            "role": principal.role.value,
        },
        "tenant": {"id": str(principal.tenant_id), "slug": principal.tenant_slug},
        "csrf_token": csrf_token(request),
    }
