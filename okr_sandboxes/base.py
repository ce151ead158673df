"""What the two vendor sandboxes share: sites, the request pipeline, admin routes, activity.

One sandbox server hosts one or more *sites*. A site is one sandbox tenant: its own seed and
seeded data, credentials, webhook registrations, fault settings, activity clock and request log,
reachable under its own base URL (Jira: ``{server}/ex/jira/{site}``, the layout of Atlassian's
OAuth 2.0 API gateway; GitHub: ``{server}/{site}/api/v3``, the layout of GitHub Enterprise
Server). Credentials of one site are refused (401) by every other site, so a connector that
mixes up tenants fails loudly instead of reading someone else's data.

Every vendor API request goes through :meth:`SandboxApp.api` in this order: find the site (404),
draw a fault (delay, then maybe 429/5xx/401), authenticate (401), run the handler, add the
vendor's headers, record the request. Admin requests (``{base_url}/_sandbox/...`` and
``{server}/_sandbox/...``) skip faults, auth and the log. All state lives in the server's event
loop; handlers are ``async`` and never run in a thread pool, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from okr_sandboxes.faults import Fault, FaultConfig, FaultInjector
from okr_sandboxes.requestlog import RequestLog
from okr_sandboxes.webhooks import HeaderBuilder, WebhookDispatcher

logger = logging.getLogger(__name__)
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status, headers, media_type="application/json")


def derive_secret(*parts: str, length: int = 32) -> str:
    """A deterministic credential: the same tenant and seed give the same token every run."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:length]


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise AdminError(400, f"request body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AdminError(400, "request body must be a JSON object")
    return data


class Site:
    """State every vendor site has; the vendor subclasses add data and mutations."""

    vendor = "sandbox"

    def __init__(
        self,
        *,
        name: str,
        seed: str,
        faults: FaultConfig | None,
        activity_tick: float | None,
        build_headers: HeaderBuilder,
        webhook_attempts: int,
        client: Callable[[], httpx.AsyncClient],
    ) -> None:
        if not SITE_NAME.match(name):
            raise ValueError(f"invalid site name {name!r}: letters, digits, '-', '_', '.'")
        self.name = name
        self.seed = seed
        self.faults = FaultInjector(faults or FaultConfig())
        self.log = RequestLog()
        self.webhooks = WebhookDispatcher(
            build_headers=build_headers,
            max_attempts=webhook_attempts,
            backoff=0.5,
            client=client,
        )
        self.activity_tick = activity_tick
        self.next_activity = time.monotonic() + (activity_tick or 0)
        self.activity_steps = 0

    def set_activity(self, tick: float | None) -> None:
        if tick is not None and tick <= 0:
            raise ValueError("activity tick must be positive seconds")
        self.activity_tick = tick
        self.next_activity = time.monotonic() + (tick or 0)

    def activity_step(self) -> list[dict[str, Any]]:
        """Move the data on by one step; returns the changes made (vendor specific)."""
        raise NotImplementedError

    def credentials(self) -> dict[str, Any]:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        return {
            "site": self.name,
            "seed": self.seed,
            "activity_tick": self.activity_tick,
            "activity_steps": self.activity_steps,
            "faults": self.faults.to_json(),
            "webhooks": [r.to_json() for r in self.webhooks.registrations.values()],
        }


SiteT = TypeVar("SiteT", bound=Site)
Handler = Callable[[Request, SiteT], Awaitable[Response]]


@dataclass(frozen=True)
class Auth:
    """``required``: every request must authenticate; ``optional``: anonymous requests pass,
    but a request that sends wrong credentials is still refused."""

    required: bool = True


class SandboxApp(Generic[SiteT]):
    """An ASGI app hosting several sites of one vendor; subclasses add the vendor routes."""

    prefix: str  # route prefix with a ``{site}`` parameter, e.g. "/ex/jira/{site}"

    def __init__(self) -> None:
        self.sites: dict[str, SiteT] = {}
        self._client: httpx.AsyncClient | None = None
        routes = [
            Route("/_sandbox/sites", self._list_sites, methods=["GET"]),
            Route("/_sandbox/sites", self._create_site, methods=["POST"]),
            Route("/_sandbox/health", self._health, methods=["GET"]),
            *self._admin_routes(),
            *self.vendor_routes(),
        ]
        self._app = Starlette(routes=routes, lifespan=self._lifespan)

    # -- to be provided by the vendor ----------------------------------------------------------

    def vendor_routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def vendor_admin_routes(self) -> list[BaseRoute]:
        return []

    def make_site(self, data: dict[str, Any]) -> SiteT:
        raise NotImplementedError

    def authenticate(self, request: Request, site: SiteT) -> bool | None:
        """True: valid credentials; False: wrong credentials; None: none sent."""
        raise NotImplementedError

    def error_response(
        self, request: Request, site: SiteT | None, status: int, fault: Fault | None
    ) -> Response:
        """The vendor's error for a fault (``fault`` set), a failed auth (401) or no site (404)."""
        raise NotImplementedError

    def throttle(self, request: Request, site: SiteT) -> Response | None:
        """The vendor's own rate limit, checked after auth; a response refuses the request."""
        return None

    def decorate(self, request: Request, response: Response, site: SiteT) -> None:
        """Add the vendor's per-response headers (rate limits, request ids)."""

    def base_url(self, request: Request, site: SiteT) -> str:
        """The site's base URL as this request reached it (scheme, host and port included)."""
        server = f"{request.url.scheme}://{request.url.netloc}"
        return server + self.prefix.replace("{site}", site.name)

    # -- sites ---------------------------------------------------------------------------------

    def add_site(self, site: SiteT) -> SiteT:
        if site.name in self.sites:
            raise ValueError(f"site {site.name!r} exists already")
        self.sites[site.name] = site
        return site

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        return self._client

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self._activity_loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    async def _activity_loop(self) -> None:
        while True:
            ticks = [s.activity_tick for s in self.sites.values() if s.activity_tick]
            await asyncio.sleep(min([0.25, *ticks]))
            now = time.monotonic()
            for site in list(self.sites.values()):
                if site.activity_tick and now >= site.next_activity:
                    site.next_activity = now + site.activity_tick
                    try:
                        site.activity_step()
                    except Exception:  # one site's bad step must not stop the others
                        logger.exception("activity step of site %s failed", site.name)

    # -- the request pipeline ------------------------------------------------------------------

    def api(
        self, path: str, handler: Handler[SiteT], *, methods: list[str], auth: Auth = Auth()
    ) -> Route:
        """A vendor route under the site prefix, wrapped in faults, auth, headers and logging."""
        route_name = path

        async def endpoint(request: Request) -> Response:
            site = self.sites.get(request.path_params["site"])
            if site is None:
                return self.error_response(request, None, 404, None)
            request.state.items = 0
            fault = site.faults.decide(request.url.path)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                response = self.error_response(request, site, fault.status, fault)
            else:
                verdict = self.authenticate(request, site)
                if verdict is False or (verdict is None and auth.required):
                    response = self.error_response(request, site, 401, None)
                else:
                    refused = self.throttle(request, site)
                    response = refused or await handler(request, site)
            self.decorate(request, response, site)
            site.log.record(
                method=request.method,
                route=route_name,
                path=request.url.path,
                query=request.url.query,
                status=response.status_code,
                items=request.state.items,
            )
            return response

        return Route(self.prefix + path, endpoint, methods=methods)

    def admin(self, path: str, handler: Handler[SiteT], *, methods: list[str]) -> Route:
        """A sandbox admin route under ``{base_url}/_sandbox``: no faults, no auth, not logged."""

        async def endpoint(request: Request) -> Response:
            site = self.sites.get(request.path_params["site"])
            if site is None:
                return json_response({"error": "unknown site"}, 404)
            try:
                return await handler(request, site)
            except AdminError as exc:
                return json_response({"error": exc.message}, exc.status)
            except KeyError as exc:  # an unknown issue, repository or pull request
                return json_response({"error": str(exc).strip("'\"")}, 404)
            except (ValueError, TypeError) as exc:
                return json_response({"error": str(exc)}, 400)

        return Route(self.prefix + "/_sandbox" + path, endpoint, methods=methods)

    # -- admin endpoints shared by both vendors ------------------------------------------------

    def _admin_routes(self) -> list[BaseRoute]:
        return [
            self.admin("", self._state, methods=["GET"]),
            self.admin("/state", self._state, methods=["GET"]),
            self.admin("/faults", self._get_faults, methods=["GET"]),
            self.admin("/faults", self._set_faults, methods=["POST", "PUT"]),
            self.admin("/faults", self._clear_faults, methods=["DELETE"]),
            self.admin("/requests", self._get_requests, methods=["GET"]),
            self.admin("/requests", self._reset_requests, methods=["DELETE"]),
            self.admin("/webhooks", self._list_webhooks, methods=["GET"]),
            self.admin("/webhooks", self._add_webhook, methods=["POST"]),
            self.admin("/webhooks/flush", self._flush_webhooks, methods=["POST"]),
            self.admin("/webhooks/deliveries", self._deliveries, methods=["GET"]),
            self.admin(
                "/webhooks/deliveries/{delivery_id}/redeliver", self._redeliver, methods=["POST"]
            ),
            self.admin("/webhooks/{hook_id:int}", self._delete_webhook, methods=["DELETE"]),
            self.admin("/activity", self._set_activity, methods=["POST", "PUT"]),
            self.admin("/activity/tick", self._activity_tick, methods=["POST"]),
            *self.vendor_admin_routes(),
        ]

    async def _health(self, _request: Request) -> Response:
        return json_response({"status": "ok", "sites": len(self.sites)})

    async def _list_sites(self, request: Request) -> Response:
        return json_response([self._site_json(request, s) for s in self.sites.values()])

    async def _create_site(self, request: Request) -> Response:
        try:
            data = await read_json(request)
            site = self.add_site(self.make_site(data))
        except AdminError as exc:
            return json_response({"error": exc.message}, exc.status)
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(self._site_json(request, site), 201)

    def _site_json(self, request: Request, site: SiteT) -> dict[str, Any]:
        base = self.base_url(request, site)
        return {"site": site.name, "seed": site.seed, "base_url": base, **site.credentials()}

    async def _state(self, request: Request, site: SiteT) -> Response:
        return json_response({**self._site_json(request, site), **site.summary()})

    async def _get_faults(self, _request: Request, site: SiteT) -> Response:
        return json_response(site.faults.to_json())

    async def _set_faults(self, request: Request, site: SiteT) -> Response:
        site.faults.configure(FaultConfig.from_json(await read_json(request)))
        return json_response(site.faults.to_json())

    async def _clear_faults(self, _request: Request, site: SiteT) -> Response:
        site.faults.configure(FaultConfig())
        return json_response(site.faults.to_json())

    async def _get_requests(self, _request: Request, site: SiteT) -> Response:
        return json_response(site.log.to_json())

    async def _reset_requests(self, _request: Request, site: SiteT) -> Response:
        site.log.reset()
        return json_response(site.log.to_json())

    async def _list_webhooks(self, _request: Request, site: SiteT) -> Response:
        return json_response([r.to_json() for r in site.webhooks.registrations.values()])

    async def _add_webhook(self, request: Request, site: SiteT) -> Response:
        data = await read_json(request)
        if "url" not in data or "secret" not in data:
            raise AdminError(400, "url and secret are required")
        self.validate_webhook_filter(site, data.get("filter"))
        registration = site.webhooks.register(
            str(data["url"]),
            str(data["secret"]),
            events=tuple(data.get("events") or ()),
            filter=data.get("filter"),
        )
        return json_response(registration.to_json(), 201)

    def validate_webhook_filter(self, site: SiteT, value: Any) -> None:
        if value is not None:
            raise AdminError(400, "this vendor takes no webhook filter")

    async def _delete_webhook(self, request: Request, site: SiteT) -> Response:
        if not site.webhooks.unregister(request.path_params["hook_id"]):
            raise AdminError(404, "no such webhook")
        return Response(status_code=204)

    async def _flush_webhooks(self, request: Request, site: SiteT) -> Response:
        timeout = float((await read_json(request)).get("timeout", 10.0))
        done = await site.webhooks.flush(timeout)
        return json_response({"done": done}, 200 if done else 504)

    async def _deliveries(self, request: Request, site: SiteT) -> Response:
        with_body = request.query_params.get("body") in ("1", "true")
        return json_response([d.to_json(with_body=with_body) for d in site.webhooks.deliveries])

    async def _redeliver(self, request: Request, site: SiteT) -> Response:
        delivery = site.webhooks.redeliver(request.path_params["delivery_id"])
        if delivery is None:
            raise AdminError(404, "no such delivery, or its webhook was removed")
        return json_response(delivery.to_json(), 202)

    async def _set_activity(self, request: Request, site: SiteT) -> Response:
        data = await read_json(request)
        tick = data.get("tick")
        enabled = data.get("enabled", tick is not None)
        site.set_activity(float(tick or 5.0) if enabled else None)
        return json_response({"activity_tick": site.activity_tick})

    async def _activity_tick(self, request: Request, site: SiteT) -> Response:
        steps = int((await read_json(request)).get("steps", 1))
        changes: list[dict[str, Any]] = []
        for _ in range(max(0, min(steps, 1000))):
            changes.extend(site.activity_step())
        return json_response({"changes": changes})
