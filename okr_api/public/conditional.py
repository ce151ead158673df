"""Conditional requests and cached representations of the public API.

A representation is determined by the tenant, the tenant's data version, the URL and the day
(health depends on the date), so that tuple, HMAC-ed, is both the response's ETag and the key of
an in-memory cache of serialised bodies. A poller's ``If-None-Match`` is answered 304 before any
parameter parsing or database work; a repeated page is served from memory. Both are as fresh as
the data version, which is re-read at most every ``OKR_PUBLIC_DATA_VERSION_SECONDS`` (1 s).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from okr_api.public.auth import Caller
from okr_api.public.runtime import PublicApiRuntime, Representation

CACHE_CONTROL = "private, no-cache"
ETAG_SCOPE_KEY = "okr.public.etag"


async def etag_for(runtime: PublicApiRuntime, caller: Caller, request: Request) -> str:
    cached: str | None = request.scope.get(ETAG_SCOPE_KEY)
    if cached is not None:
        return cached
    version = await runtime.data_version(caller.tenant_id)
    etag = runtime.etag(caller.tenant_id, version, f"{request.url.path}?{request.url.query}")
    request.scope[ETAG_SCOPE_KEY] = etag
    return etag


def etag_matches(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    opaque = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


def has_validator(request: Request) -> bool:
    return "if-none-match" in request.headers


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def respond(etag: str, representation: Representation) -> Response:
    response = Response(
        representation.body,
        media_type="application/json",
        headers={"ETag": etag, "Cache-Control": CACHE_CONTROL},
    )
    if representation.next_url is not None:
        response.headers.append("Link", f'<{representation.next_url}>; rel="next"')
    return response
