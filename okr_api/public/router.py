"""Versioned public read API under /api/v1/public (API-key authenticated), and its documentation
at /api/v1/openapi.json, /api/v1/docs and /api/v1/docs/deprecations.

Every operation runs through :class:`okr_api.public.route.PublicRoute` (key, rate limits, scope,
parameters, telemetry); the handlers here answer 304 from the in-memory data version when they
can and otherwise read one page in a single threadpool hop.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from okr_api.public import service
from okr_api.public.auth import caller_of
from okr_api.public.conditional import (
    etag_for,
    etag_matches,
    not_modified,
    respond,
)
from okr_api.public.cursors import CursorContext, CursorSigner, filters_fingerprint
from okr_api.public.deprecations import DEPRECATIONS
from okr_api.public.openapi import PROBLEM_RESPONSES, docs_html, public_openapi
from okr_api.public.route import SCOPE_EXTENSION, InvalidParameter, PublicRoute
from okr_api.public.runtime import Representation, get_runtime
from okr_api.public.schemas import CheckInRead, KeyResultRead, ObjectiveRead, Page
from okr_api.public.service import (
    CheckInSort,
    KeyResultSort,
    ListRequest,
    ObjectiveSort,
    PageResult,
)
from okr_core.api_keys import Scope
from okr_core.errors import NotFound
from okr_core.models import (
    CheckIn,
    CheckInSource,
    KeyResult,
    KeyResultStatus,
    Objective,
    ObjectiveStatus,
)
from okr_core.tenancy import bind_tenant

PERIOD_PATTERN = r"^\d{4}-Q[1-4]$"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = get_runtime(app)
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


router = APIRouter(lifespan=_lifespan)
data = APIRouter(prefix="/api/v1/public", route_class=PublicRoute)

Limit = Annotated[int, Query(ge=1, le=200, description="Rows per page, 1 to 200.", examples=[50])]
Cursor = Annotated[
    str | None,
    Query(description="The next_cursor of the previous page, unchanged. Omit for page one."),
]
UpdatedSince = Annotated[
    datetime | None,
    Query(
        description="Only rows changed at or after this time (RFC 3339; no offset means UTC): "
        "the basis of incremental pulls.",
        examples=["2026-11-01T00:00:00Z"],
    ),
]
Period = Annotated[
    str | None,
    Query(pattern=PERIOD_PATTERN, description="Quarter, like 2026-Q4.", examples=["2026-Q4"]),
]
Owner = Annotated[uuid.UUID | None, Query(description="Only rows owned by this user id.")]


def _scope(scope: Scope) -> dict[str, Any]:
    return {SCOPE_EXTENSION: scope.value}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _cached(request: Request) -> tuple[str, Response | None]:
    """The representation's ETag, and a response if one can be given without the database."""
    caller = caller_of(request)
    runtime = get_runtime(request.app)
    etag = await etag_for(runtime, caller, request)
    if etag_matches(request, etag):
        return etag, not_modified(etag)
    hit = runtime.pages.get(etag)
    return etag, (respond(etag, hit) if hit is not None else None)


async def _list(
    request: Request,
    *,
    resource: str,
    filters: dict[str, Any],
    conditions: list[Any],
    sort: str,
    limit: int,
    cursor: str | None,
    page_type: type[Page[Any]],
    work: Callable[[Session, ListRequest], PageResult],
) -> Response:
    etag, ready = await _cached(request)
    if ready is not None:
        return ready
    caller = caller_of(request)
    runtime = get_runtime(request.app)
    signer = CursorSigner(runtime.cursor_key, runtime.previous_cursor_keys)
    context = CursorContext(
        resource=resource,
        tenant_id=caller.tenant_id,
        sort=sort,
        filters=filters_fingerprint(filters),
    )
    after = signer.decode(cursor, context) if cursor else None
    list_request = ListRequest(conditions=conditions, sort=sort, limit=limit, after=after)

    def job(session: Session) -> tuple[bytes, str | None]:
        bind_tenant(session, caller.tenant_id)
        result = work(session, list_request)
        next_cursor = signer.encode(context, result.last) if result.last is not None else None
        body = service.page_json(
            page_type, result.body_items, has_more=result.has_more, cursor=next_cursor
        )
        return body, next_cursor

    body, next_cursor = await runtime.read(job)
    next_url = None
    if next_cursor is not None:
        next_url = str(request.url.include_query_params(cursor=next_cursor))
    representation = Representation(body=body, next_url=next_url)
    runtime.pages.put(etag, representation)
    return respond(etag, representation)


async def _item(
    request: Request, model: type[Any], read: Callable[[Session], dict[str, Any]]
) -> Response:
    etag, ready = await _cached(request)
    if ready is not None:
        return ready
    caller = caller_of(request)

    def job(session: Session) -> bytes:
        bind_tenant(session, caller.tenant_id)
        return service.item_json(model, read(session))

    runtime = get_runtime(request.app)
    representation = Representation(body=await runtime.read(job), next_url=None)
    runtime.pages.put(etag, representation)
    return respond(etag, representation)


# -- objectives ------------------------------------------------------------------------------
@data.get(
    "/objectives",
    operation_id="objectives_list",
    summary="List objectives",
    tags=["objectives"],
    response_model=Page[ObjectiveRead],
    responses=PROBLEM_RESPONSES,
    openapi_extra=_scope(Scope.objectives_read),
)
async def list_objectives(
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        ObjectiveSort, Query(description="Sort field; a leading '-' sorts descending.")
    ] = ObjectiveSort.by_created_at,
    period: Period = None,
    owner: Owner = None,
    status: Annotated[ObjectiveStatus | None, Query(description="Only this status.")] = None,
    parent: Annotated[
        uuid.UUID | None, Query(description="Only objectives aligned to this parent objective.")
    ] = None,
    updated_since: UpdatedSince = None,
) -> Response:
    """Objectives of the key's organisation, filtered, in a stable order, one page at a time."""
    since = _utc(updated_since)
    conditions: list[Any] = []
    if period is not None:
        conditions.append(Objective.period == period)
    if owner is not None:
        conditions.append(Objective.owner_id == owner)
    if status is not None:
        conditions.append(Objective.status == status)
    if parent is not None:
        conditions.append(Objective.parent_id == parent)
    if since is not None:
        conditions.append(Objective.updated_at >= since)
    filters = {"period": period, "owner": owner, "status": status, "parent": parent, "since": since}
    return await _list(
        request,
        resource="objectives",
        filters=filters,
        conditions=conditions,
        sort=sort.value,
        limit=limit,
        cursor=cursor,
        page_type=Page[ObjectiveRead],
        work=service.objectives_page,
    )


@data.get(
    "/objectives/{objective_id}",
    operation_id="objectives_get",
    summary="Get an objective",
    tags=["objectives"],
    response_model=ObjectiveRead,
    responses=PROBLEM_RESPONSES,
    openapi_extra=_scope(Scope.objectives_read),
)
async def get_objective(
    request: Request, objective_id: Annotated[uuid.UUID, Path(description="Objective id.")]
) -> Response:
    """One objective; another organisation's id answers 404 like an id that does not exist."""
    return await _item(request, ObjectiveRead, lambda s: service.objective(s, objective_id))


# -- key results -----------------------------------------------------------------------------
@data.get(
    "/key-results",
    operation_id="key_results_list",
    summary="List key results",
    tags=["key results"],
    response_model=Page[KeyResultRead],
    responses=PROBLEM_RESPONSES,
    openapi_extra=_scope(Scope.key_results_read),
)
async def list_key_results(
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        KeyResultSort, Query(description="Sort field; a leading '-' sorts descending.")
    ] = KeyResultSort.by_created_at,
    period: Period = None,
    owner: Owner = None,
    status: Annotated[KeyResultStatus | None, Query(description="Only this status.")] = None,
    objective: Annotated[
        uuid.UUID | None, Query(description="Only key results of this (parent) objective.")
    ] = None,
    objective_id: Annotated[
        uuid.UUID | None,
        Query(
            deprecated=True,
            description="Deprecated old name of `objective` (sunset 2027-11-30); responses "
            "to requests using it carry Deprecation, Sunset and Link headers.",
        ),
    ] = None,
    updated_since: UpdatedSince = None,
) -> Response:
    """Key results with derived progress and health, filtered, one page at a time."""
    if objective_id is not None:
        if objective is not None and objective != objective_id:
            raise InvalidParameter(
                "objective and its deprecated alias objective_id disagree; send objective only",
                details={"field": "objective_id"},
            )
        objective = objective_id
    since = _utc(updated_since)
    conditions: list[Any] = []
    if period is not None:
        conditions.append(Objective.period == period)
    if owner is not None:
        conditions.append(KeyResult.owner_id == owner)
    if status is not None:
        conditions.append(KeyResult.status == status)
    if objective is not None:
        conditions.append(KeyResult.objective_id == objective)
    if since is not None:
        conditions.append(KeyResult.updated_at >= since)
    filters = {
        "period": period,
        "owner": owner,
        "status": status,
        "objective": objective,
        "since": since,
    }
    return await _list(
        request,
        resource="key_results",
        filters=filters,
        conditions=conditions,
        sort=sort.value,
        limit=limit,
        cursor=cursor,
        page_type=Page[KeyResultRead],
        work=service.key_results_page,
    )


@data.get(
    "/key-results/{key_result_id}",
    operation_id="key_results_get",
    summary="Get a key result",
    tags=["key results"],
    response_model=KeyResultRead,
    responses=PROBLEM_RESPONSES,
    openapi_extra=_scope(Scope.key_results_read),
)
async def get_key_result(
    request: Request, key_result_id: Annotated[uuid.UUID, Path(description="Key result id.")]
) -> Response:
    """One key result with its derived progress and health."""
    return await _item(request, KeyResultRead, lambda s: service.key_result(s, key_result_id))


@data.get(
    "/key-results/{key_result_id}/check-ins",
    operation_id="key_results_check_ins_list",
    summary="List a key result's check-ins",
    tags=["key results"],
    response_model=Page[CheckInRead],
    responses=PROBLEM_RESPONSES,
    openapi_extra=_scope(Scope.key_results_read),
)
async def list_check_ins(
    request: Request,
    key_result_id: Annotated[uuid.UUID, Path(description="Key result id.")],
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        CheckInSort, Query(description="Sort field; a leading '-' sorts descending.")
    ] = CheckInSort.by_checked_at,
    source: Annotated[
        CheckInSource | None,
        Query(description="manual (typed in) or automated (synced from a source)."),
    ] = None,
    checked_since: Annotated[
        datetime | None, Query(description="Only values checked at or after this time.")
    ] = None,
) -> Response:
    """The key result's history: each value with its time and source, manual or automated."""
    since = _utc(checked_since)
    conditions: list[Any] = []
    if source is not None:
        conditions.append(CheckIn.source == source)
    if since is not None:
        conditions.append(CheckIn.checked_at >= since)
    filters = {"key_result": key_result_id, "source": source, "since": since}
    return await _list(
        request,
        resource="check_ins",
        filters=filters,
        conditions=conditions,
        sort=sort.value,
        limit=limit,
        cursor=cursor,
        page_type=Page[CheckInRead],
        work=lambda session, req: service.check_ins_page(session, key_result_id, req),
    )


# Last: an unknown path under /api/v1/public is still authenticated, rate limited and counted,
# so every answer of the public API carries the same headers.
@data.get("/{path:path}", include_in_schema=False)
async def unknown_route(path: str) -> Response:
    raise NotFound(f"no such operation: /api/v1/public/{path} (see /api/v1/docs)")


router.include_router(data)


# -- documentation ---------------------------------------------------------------------------
@router.get("/api/v1/openapi.json", include_in_schema=False)
def openapi_v1(request: Request) -> JSONResponse:
    """The public v1 contract only (the app's private routes are not in it)."""
    return JSONResponse(public_openapi(request.app))


@router.get("/api/v1/docs", include_in_schema=False)
def docs_v1() -> HTMLResponse:
    return HTMLResponse(docs_html())


@router.get("/api/v1/docs/deprecations", include_in_schema=False)
def deprecations_page() -> HTMLResponse:
    items = "".join(
        f'<section id="{d.anchor}"><h2><code>{d.operation_id}</code>'
        f"{f' parameter <code>{d.parameter}</code>' if d.parameter else ''}</h2>"
        f"<p>Deprecated {d.deprecated_at:%Y-%m-%d}; removed after {d.sunset_at:%Y-%m-%d}. "
        f"Use <code>{d.replacement}</code>.</p><p>{d.notes}</p></section>"
        for d in DEPRECATIONS
    )
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>OKR Hub API v1 deprecations</title></head><body>"
        "<h1>Deprecations in the v1 public API</h1>"
        "<p>Deprecated parts keep working until their sunset date; responses that use them "
        "carry <code>Deprecation</code>, <code>Sunset</code> and <code>Link</code> headers.</p>"
        f"{items}</body></html>"
    )
