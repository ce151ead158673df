"""The FastAPI application factory: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from okr_api.admin.router import router as admin_router
from okr_api.api_keys.router import router as api_keys_router
from okr_api.audit_log.router import router as audit_log_router
from okr_api.auth.router import router as auth_router
from okr_api.auth.throttle import LoginThrottle
from okr_api.errors import install_error_handlers
from okr_api.health.router import router as health_router
from okr_api.integrations.router import router as integrations_router
from okr_api.keepalive import KeepAliveRecycling
from okr_api.metrics.router import router as metrics_router
from okr_api.okrs.router import router as okrs_router
from okr_api.provisioning.router import router as provisioning_router
from okr_api.public.router import router as public_router
from okr_api.scim.router import router as scim_router
from okr_api.templating import STATIC_DIR
from okr_api.webhooks.router import router as webhooks_router
from okr_core.db.engine import make_engine, make_session_factory
from okr_core.settings import Settings, load_settings

SESSION_COOKIE = "okr_session"
SCIM_PATH = "/scim/v2"


class BrowserSessionMiddleware(SessionMiddleware):
    """Signed-cookie sessions for the browser UI; SCIM requests pass straight through.

    An identity provider authenticates with a bearer token on every request and no SCIM route
    reads or writes a session, so decoding a cookie and wrapping ``send`` for one is work that
    cannot apply (and a SCIM response never sets a session cookie)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == SCIM_PATH or path.startswith(SCIM_PATH + "/")):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _operation_id(route: APIRoute) -> str:
    """Stable ids for generated SDKs: the route's declared operation id, else its name."""
    return route.operation_id or route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="OKR Enterprise Hub",
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle(settings)
    app.add_middleware(
        BrowserSessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.session_cookie_secure,
    )
    if settings.trusted_proxy_list:
        # Outside all but the keep-alive count: the client address and scheme are the real
        # ones for everything inside (API key last use, per-address rate limits, sign-in
        # throttling, redirects). Only these peers' X-Forwarded-For / X-Forwarded-Proto are
        # believed; `okr-hub serve` turns uvicorn's own proxy-header handling off so this
        # setting is the only one that counts.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    if settings.keepalive_max_requests:
        # Added last, so outermost: it counts requests per peer connection, before any
        # proxy header has replaced the peer's address.
        app.add_middleware(KeepAliveRecycling, max_requests=settings.keepalive_max_requests)
    install_error_handlers(app)
    # SCIM first: routes match in order, and an identity provider sends thousands of requests
    # in a row (its paths, all under /scim/v2, overlap no other router's).
    app.include_router(scim_router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(auth_router)
    app.include_router(okrs_router)
    app.include_router(public_router)
    app.include_router(api_keys_router)
    app.include_router(audit_log_router)
    app.include_router(provisioning_router)
    app.include_router(admin_router)
    app.include_router(integrations_router)
    app.include_router(webhooks_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
