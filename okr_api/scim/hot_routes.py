"""The provisioning hot paths as plain Starlette routes: create a user, create a group, change
a group's members.

An identity provider sends these by the thousand in a row. As FastAPI endpoints each request
also paid for FastAPI's per-request dependency solving and parameter validation (about a fifth
of the API's CPU per request, measured with py-spy under ``bench/scim_provisioning.py``). Here
a route reads its two query parameters and one header itself; everything else is what the other
SCIM endpoints use: authentication, the service functions, the one-hop unit of work
(:class:`ScimWork`), the response helpers, and every failure rendered as a SCIM error by
``errors.render``.

``app.state.scim_work_factory`` (a callable taking the request) builds the unit of work;
unset, a :class:`ScimWork` on a new session. Tests set it to run each request in a savepoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from okr_api.database import session_factory
from okr_api.scim import service
from okr_api.scim.auth import ScimClient
from okr_api.scim.errors import render
from okr_api.scim.http import (
    resource_response,
    response_parameters,
    scim_body,
    written_response,
)
from okr_api.scim.schemas import ScimGroup, ScimUser
from okr_api.scim.work import ScimWork
from okr_core.db import commit_with_last

T = TypeVar("T")
WorkFactory = Callable[[Request], ScimWork]


def _new_work(request: Request) -> ScimWork:
    factory: WorkFactory | None = getattr(request.app.state, "scim_work_factory", None)
    if factory is not None:
        return factory(request)
    return ScimWork(session_factory(request)())


async def _authenticated_run(
    request: Request, service_call: Callable[[Session, ScimClient, dict[str, Any]], T]
) -> T:
    """Authenticate (401 first), read the body, run the service and commit in one hop."""
    work = _new_work(request)
    try:
        await work.authenticate(request)
        body = await scim_body(request)
        return await work.run(lambda session, client: service_call(session, client, body))
    finally:
        await work.release()


def _scim_errors(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:  # every failure, expected or not, gets a SCIM body
            return render(exc)

    guarded.__name__ = endpoint.__name__
    guarded.__doc__ = endpoint.__doc__
    return guarded


def _selection(request: Request, model: type[Any]) -> Any:
    query = request.query_params
    return response_parameters(model, query.get("attributes"), query.get("excludedAttributes"))


@_scim_errors
async def create_user(request: Request) -> Response:
    """POST /Users: 201 with the user."""
    params = _selection(request, ScimUser)
    written = await _authenticated_run(request, service.create_user)
    return written_response(written, ScimUser, params=params, status_code=201)


@_scim_errors
async def create_group(request: Request) -> Response:
    """POST /Groups: 201 with the group."""
    params = _selection(request, ScimGroup)
    written = await _authenticated_run(request, service.create_group)
    return written_response(written, ScimGroup, params=params, status_code=201)


@_scim_errors
async def patch_group(request: Request) -> Response:
    """PATCH /Groups/{id}: 204 by default (what Entra ID asks for); 200 with the group when
    attributes are asked for."""
    params = _selection(request, ScimGroup)
    group_id: str = request.path_params["group_id"]
    if_match = request.headers.get("if-match")

    def change(
        session: Session, client: ScimClient, body: dict[str, Any]
    ) -> tuple[int, ScimGroup | None]:
        if params is None:  # nothing is read after the change: it may commit as it is sent
            commit_with_last.allow(session)
        group = service.patch_group(session, client, group_id, body, if_match)
        if params is None:
            return group.version, None
        return group.version, service.get_group(session, client, str(group.id), params)

    version, resource = await _authenticated_run(request, change)
    if resource is None:
        return Response(status_code=204, headers={"ETag": service.etag(version)})
    return resource_response(resource, params=params)


def hot_routes(prefix: str) -> list[Route]:
    """The three routes under ``prefix`` (``/scim/v2``), to be matched before any other."""
    return [
        Route(f"{prefix}/Users", create_user, methods=["POST"], name="scim_user_create"),
        Route(f"{prefix}/Groups", create_group, methods=["POST"], name="scim_group_create"),
        Route(
            f"{prefix}/Groups/{{group_id}}",
            patch_group,
            methods=["PATCH"],
            name="scim_group_patch",
        ),
    ]
