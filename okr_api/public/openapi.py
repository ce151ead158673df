"""The public v1 OpenAPI document: only /api/v1/public operations, with the API-key security
scheme, each operation's required scope, problem-details error responses, rate-limit, ETag and
Link headers, examples, and deprecations from the registry.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts

from okr_api.public.deprecations import DEPRECATIONS, DEPRECATIONS_PAGE
from okr_api.public.schemas import Problem
from okr_core.api_keys import SCANNER_PATTERN, SCOPE_DESCRIPTIONS

API_VERSION = "1.0.0"
TITLE = "OKR Enterprise Hub public API"
SECURITY_SCHEME = "ApiKey"
PROBLEM_MEDIA_TYPE = "application/problem+json"
STATE_ATTRIBUTE = "public_openapi_v1"

DESCRIPTION = f"""Read objectives, key results and their check-in history with an API key.

**Authentication.** Send `Authorization: Bearer <key>`. Tenant admins create keys with scopes
(`objectives:read`, `key_results:read`, `reports:read`) in the admin UI or with
`okr-hub api-keys create`. Keys match `{SCANNER_PATTERN}` and end in a CRC32 checksum.

**Pagination.** Lists answer `{{"data": [...], "has_more": bool, "next_cursor": str|null}}` and
a `Link: <...>; rel="next"` header. Pass `next_cursor` back as `cursor` unchanged.

**Caching.** Every 200 carries an `ETag`; send it back as `If-None-Match` to get a 304.

**Rate limits.** Every response carries `RateLimit-Policy` and `RateLimit` (IETF draft) and
`X-RateLimit-Limit/Remaining/Reset`; a 429 adds `Retry-After`.

**Versioning.** Breaking changes only in a new major version (/api/v2); deprecated parts send
`Deprecation`, `Sunset` and `Link` headers (see {DEPRECATIONS_PAGE}).
"""

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Unknown filter, invalid value or bad cursor."},
    401: {"model": Problem, "description": "Missing, malformed, unknown, expired or revoked key."},
    403: {"model": Problem, "description": "The key lacks the operation's scope."},
    404: {"model": Problem, "description": "No such resource in the key's organisation."},
    429: {"model": Problem, "description": "Rate limit exceeded; retry after Retry-After s."},
}

_HEADERS: dict[str, dict[str, Any]] = {
    "RateLimit-Policy": {
        "description": 'Limits that apply, IETF draft form: "key";q=600;w=60, "tenant";...',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'Remaining quota and seconds to reset: "key";r=599;t=42, ...',
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Quota of the tightest policy.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the tightest policy's window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "UNIX time at which the tightest policy's window resets.",
        "schema": {"type": "integer"},
    },
    "ETag": {"description": "Validator for If-None-Match.", "schema": {"type": "string"}},
    "Link": {
        "description": 'rel="next" with the next page\'s URL (lists with more rows); '
        'rel="deprecation" when a deprecated part was used.',
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    },
    "WWW-Authenticate": {
        "description": "Bearer challenge (RFC 6750).",
        "schema": {"type": "string"},
    },
}
_RATE_HEADERS = (
    "RateLimit-Policy",
    "RateLimit",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


def _header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def build_public_openapi(app: FastAPI) -> dict[str, Any]:
    from okr_api.public.route import SCOPE_EXTENSION, PublicRoute

    routes = [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, PublicRoute)
    ]
    spec = get_openapi(
        title=TITLE,
        version=API_VERSION,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=routes,
        tags=[
            {"name": "objectives", "description": "Needs the objectives:read scope."},
            {"name": "key results", "description": "Needs the key_results:read scope."},
        ],
    )
    components = spec.setdefault("components", {})
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "okr_live_… / okr_test_… API key",
            "description": "An API key of one organisation. Scopes: "
            + "; ".join(f"`{s.value}`: {text}" for s, text in SCOPE_DESCRIPTIONS.items()),
        }
    }
    components["headers"] = copy.deepcopy(_HEADERS)
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    deprecated_params = {(d.operation_id, d.parameter) for d in DEPRECATIONS if d.parameter}
    deprecated_ops = {d.operation_id for d in DEPRECATIONS if d.parameter is None}
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            scope = operation.get(SCOPE_EXTENSION)
            operation["security"] = [{SECURITY_SCHEME: [scope] if scope else []}]
            if operation["operationId"] in deprecated_ops:
                operation["deprecated"] = True
            for parameter in operation.get("parameters", []):
                if (operation["operationId"], parameter["name"]) in deprecated_params:
                    parameter["deprecated"] = True
            responses = operation["responses"]
            responses.pop("422", None)
            ok = responses.get("200", {})
            ok["headers"] = _header_refs(*_RATE_HEADERS, "ETag", "Link")
            responses["304"] = {
                "description": "Not modified: the If-None-Match validator still matches.",
                "headers": _header_refs(*_RATE_HEADERS, "ETag"),
            }
            for status, response in responses.items():
                if status in ("200", "304"):
                    continue
                response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                names = list(_RATE_HEADERS)
                if status in ("401", "403"):
                    names.append("WWW-Authenticate")
                if status == "429":
                    names.append("Retry-After")
                response["headers"] = _header_refs(*names)
    return spec


def public_openapi(app: FastAPI) -> dict[str, Any]:
    """The document, built once per app."""
    spec: dict[str, Any] | None = getattr(app.state, STATE_ATTRIBUTE, None)
    if spec is None:
        spec = build_public_openapi(app)
        setattr(app.state, STATE_ATTRIBUTE, spec)
    return spec


SWAGGER_ASSETS = "/static/vendor/swagger-ui"


def docs_html() -> str:
    """Swagger UI from our own static files: the docs must render where no CDN is reachable."""
    page = get_swagger_ui_html(
        openapi_url="/api/v1/openapi.json",
        title=f"{TITLE} v1",
        swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"persistAuthorization": True},
    )
    return bytes(page.body).decode()
