"""The route class of every public API operation: the request's hot path in one place.

Around FastAPI's own handler it authenticates the key (in memory), applies the rate limits,
checks the operation's scope and its query parameters, renders refusals as problem details with
the right challenge headers, adds rate-limit and deprecation headers to every response, and
counts the request for usage telemetry. Doing this here rather than in dependencies keeps each
request to one pass with no threadpool hop unless the database must be read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from okr_api.errors import problem
from okr_api.metrics.collectors import RATE_LIMITED, REQUEST_DURATION, REQUESTS
from okr_api.public import deprecations
from okr_api.public.auth import (
    CALLER_SCOPE_KEY,
    ApiKeyRejected,
    Caller,
    InsufficientScope,
    authenticate,
)
from okr_api.public.conditional import etag_for, etag_matches, has_validator, not_modified
from okr_api.public.ratelimit import LimitResult, Policy
from okr_api.public.runtime import PublicApiRuntime, get_runtime
from okr_core.errors import NotFound, OkrError, TooManyRequests

SCOPE_EXTENSION = "x-required-scope"


class InvalidParameter(OkrError):
    status = 400
    code = "invalid_parameter"


class RateLimited(TooManyRequests):
    code = "rate_limited"


class PublicRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        required_scope: str | None = (self.openapi_extra or {}).get(SCOPE_EXTENSION)
        template = self.path
        duration = REQUEST_DURATION.labels(template)
        by_status: dict[int, Any] = {}  # this route's request counters, one per status
        query_params = self.dependant.query_params
        allowed = frozenset(p.alias for p in query_params)
        allowed_text = ", ".join(sorted(allowed)) or "none"
        deprecated = {
            p.alias: dep
            for p in query_params
            if (dep := deprecations.for_parameter(self.operation_id or "", p.alias)) is not None
        }

        async def handler(request: Request) -> Response:
            started = time.perf_counter()
            runtime = get_runtime(request.app)
            address = request.client.host if request.client else None
            caller: Caller | None = None
            limits: LimitResult | None = None
            try:
                try:
                    caller = await authenticate(runtime, request)
                except ApiKeyRejected:
                    limits = await _limit_anonymous(runtime, address)
                    raise
                limits = await _limit_caller(runtime, caller)
                if (exceeded := limits.exceeded) is not None:
                    retry = max(1, exceeded.reset_after(time.time()))
                    RATE_LIMITED.labels(exceeded.name).inc()
                    raise RateLimited(
                        f"rate limit exceeded ({exceeded.quota} requests per "
                        f"{exceeded.window_seconds} s, {exceeded.name}); retry in {retry} s",
                        retry_after_seconds=retry,
                    )
                if required_scope is not None and required_scope not in caller.scopes:
                    raise InsufficientScope(required_scope)
                params = request.query_params
                unknown = [name for name in params if name not in allowed]
                if unknown:
                    raise InvalidParameter(
                        f"unknown query parameter {', '.join(repr(u) for u in unknown)}; "
                        f"valid parameters are: {allowed_text}",
                        details={"field": unknown[0], "valid": sorted(allowed)},
                    )
                request.scope[CALLER_SCOPE_KEY] = caller
                # A poller's revalidation is answered before parameters are parsed: the ETag
                # depends only on the tenant, its data version, the URL and the day.
                etag = await etag_for(runtime, caller, request) if has_validator(request) else None
                if etag is not None and etag_matches(request, etag):
                    response = not_modified(etag)
                else:
                    response = await original(request)
            except RequestValidationError as exc:
                response = _render(_invalid_request(exc))
            except OkrError as exc:
                response = _render(exc)
            if limits is not None:
                response.headers.update(limits.headers())
            if deprecated:
                for name, deprecation in deprecated.items():
                    if name in request.query_params:
                        for header, value in deprecation.headers(str(request.base_url)):
                            response.headers.append(header, value)
            elapsed = time.perf_counter() - started
            status = response.status_code
            counter = by_status.get(status)
            if counter is None:
                counter = by_status[status] = REQUESTS.labels(template, str(status))
            counter.inc()
            duration.observe(elapsed)
            if caller is not None:
                runtime.usage.record(
                    tenant_id=caller.tenant_id,
                    key_id=caller.key_id,
                    route=template,
                    status=status,
                    latency_ms=elapsed * 1000.0,
                    address=address,
                )
            return response

        return handler


async def _limit_caller(runtime: PublicApiRuntime, caller: Caller) -> LimitResult:
    limiter = runtime.limiter
    per_key = limiter.parse(caller.per_key_limit) if caller.per_key_limit else None
    per_tenant = limiter.parse(caller.per_tenant_limit) if caller.per_tenant_limit else None
    return await limiter.hit(
        (
            Policy("key", per_key or limiter.per_key_default, caller.key_id.hex),
            Policy("tenant", per_tenant or limiter.per_tenant_default, caller.tenant_id.hex),
        )
    )


async def _limit_anonymous(runtime: PublicApiRuntime, address: str | None) -> LimitResult:
    limiter = runtime.limiter
    result = await limiter.hit((Policy("anonymous", limiter.anonymous, address or "unknown"),))
    if (exceeded := result.exceeded) is not None:
        retry = max(1, exceeded.reset_after(time.time()))
        RATE_LIMITED.labels(exceeded.name).inc()
        raise RateLimited(
            f"too many requests without a valid API key from this address; retry in {retry} s",
            retry_after_seconds=retry,
        )
    return result


def _invalid_request(exc: RequestValidationError) -> OkrError:
    errors = []
    for err in exc.errors():
        location = err.get("loc", ())
        if location and location[0] == "path":
            return NotFound("no such resource: the id in the path is not a valid id")
        name = str(location[-1]) if location else "query"
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            message = f"{name} must be one of {ctx['expected']}"
        else:
            message = f"{name}: {err.get('msg', 'is not valid')}"
        errors.append({"field": name, "message": message})
    detail = "; ".join(e["message"] for e in errors) or "the request is not valid"
    error = InvalidParameter(detail, details={"field": errors[0]["field"] if errors else "query"})
    error.details["errors"] = errors
    return error


def _render(exc: OkrError) -> Response:
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, ApiKeyRejected | InsufficientScope):
        headers["WWW-Authenticate"] = exc.challenge
    if isinstance(exc, InsufficientScope):
        extra["required_scope"] = exc.scope
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_seconds)
        extra["retry_after_seconds"] = exc.retry_after_seconds
    errors: list[dict[str, Any]] | None = exc.details.get("errors")
    if errors is None and "field" in exc.details:
        errors = [{"field": exc.details["field"], "message": exc.message}]
    if "valid" in exc.details:
        extra["valid"] = exc.details["valid"]
    return problem(
        exc.status, code=exc.code, detail=exc.message, errors=errors, headers=headers, extra=extra
    )
