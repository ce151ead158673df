"""SCIM 2.0 service provider under /scim/v2 (SCIM bearer-token authenticated).

Users and Groups with filters, paging, sorting, attribute selection, ``/.search``, PUT,
PATCH (RFC 7644 §3.5.2 plus the Okta and Entra ID dialects) and DELETE; discovery endpoints
that describe exactly this. Every error is an RFC 7644 error body (see ``errors``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from scim2_models import (
    Context,
    InvalidSyntaxException,
    NotFoundException,
    PayloadTooLargeException,
    ResourceType,
    ResponseParameters,
    Schema,
    SearchRequest,
)
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from okr_api.database import SessionDep
from okr_api.scim import service
from okr_api.scim.auth import CurrentScimClient, ScimClient
from okr_api.scim.errors import ScimResponse, ScimRoute, scim_error
from okr_api.scim.schemas import (
    MAX_PAYLOAD_BYTES,
    POLICY,
    PROVIDER,
    SERVICE_PROVIDER_CONFIG,
    ScimGroup,
    ScimUser,
    with_location,
)
from okr_api.scim.work import CurrentScimWork

router = APIRouter(prefix="/scim/v2", route_class=ScimRoute, tags=["scim"])

_JSON_TYPES = ("application/scim+json", "application/json")


async def scim_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; application/scim+json and application/json both accepted."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in _JSON_TYPES and not media.endswith("+json"):
        raise_unsupported(media)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeException(detail=f"requests are limited to {MAX_PAYLOAD_BYTES} bytes")
    raw = await request.body()
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeException(detail=f"requests are limited to {MAX_PAYLOAD_BYTES} bytes")
    if not raw.strip():
        raise InvalidSyntaxException(detail="the request has no body")
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidSyntaxException(detail="the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="the request body must be a JSON object")
    return data


def raise_unsupported(media: str) -> None:
    raise HTTPException(415, f"send application/scim+json, not {media}")


Body = Annotated[dict[str, Any], Depends(scim_body)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


def _params(
    model: type[Any], attributes: str | None, excluded: str | None
) -> ResponseParameters[Any] | None:
    if not attributes and not excluded:
        return None
    data: dict[str, Any] = {}
    if attributes:
        data["attributes"] = attributes
    if excluded:
        data["excludedAttributes"] = excluded
    params: ResponseParameters[Any] = ResponseParameters[model].model_validate(  # type: ignore[valid-type]
        data, scim_policy=POLICY
    )
    return params


def _resource_response(
    resource: Any,
    *,
    params: ResponseParameters[Any] | None = None,
    status_code: int = 200,
    if_none_match: str | None = None,
) -> Response:
    version = resource.meta.version if resource.meta else None
    headers: dict[str, str] = {}
    if version:
        headers["ETag"] = version
        if if_none_match and version in {t.strip() for t in if_none_match.split(",")}:
            return Response(status_code=304, headers=headers)
    if status_code == 201 and resource.meta and resource.meta.location:
        headers["Location"] = str(resource.meta.location)
    body = resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params, scim_policy=POLICY
    )
    return ScimResponse(body, status_code=status_code, headers=headers)


def _written_response(
    body: dict[str, Any],
    model: type[Any],
    *,
    params: ResponseParameters[Any] | None,
    status_code: int = 200,
) -> Response:
    """A resource the service just wrote, given as its full representation: sent as it is,
    or validated once more only to apply the client's attribute selection."""
    if params is not None:
        resource = model.model_validate(body, scim_policy=POLICY)
        return _resource_response(resource, params=params, status_code=status_code)
    meta = body["meta"]
    headers = {"ETag": meta["version"]}
    if status_code == 201:
        headers["Location"] = meta["location"]
    return ScimResponse(body, status_code=status_code, headers=headers)


def _list_response(page: service.Page, params: ResponseParameters[Any] | None) -> ScimResponse:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": page.total,
        "startIndex": page.start_index,
        "itemsPerPage": len(page.resources),
        "Resources": [
            r.model_dump(
                scim_ctx=Context.RESOURCE_QUERY_RESPONSE,
                response_parameters=params,
                scim_policy=POLICY,
            )
            for r in page.resources
        ],
    }
    return ScimResponse(body)


def _search_query(
    body: dict[str, Any], model: type[Any]
) -> tuple[service.Query, ResponseParameters[Any] | None]:
    request: SearchRequest[Any] = SearchRequest.model_validate(
        body, scim_ctx=Context.SEARCH_REQUEST, scim_policy=POLICY
    )
    query = service.Query(
        filter=str(request.filter) if request.filter is not None else None,
        start_index=request.start_index or 1,
        count=request.count,
        sort_by=str(request.sort_by) if request.sort_by is not None else None,
        sort_order=request.sort_order.value if request.sort_order is not None else None,
    )
    attributes = ",".join(str(a) for a in request.attributes or []) or None
    excluded = ",".join(str(a) for a in request.excluded_attributes or []) or None
    return query, _params(model, attributes, excluded)


FilterParam = Annotated[str | None, Query(alias="filter")]
StartIndex = Annotated[int, Query(alias="startIndex")]
Count = Annotated[int | None, Query(alias="count")]
SortBy = Annotated[str | None, Query(alias="sortBy")]
SortOrder = Annotated[str | None, Query(alias="sortOrder", pattern="(?i)^(ascending|descending)$")]
Attributes = Annotated[str | None, Query(alias="attributes")]
Excluded = Annotated[str | None, Query(alias="excludedAttributes")]


# ---------------------------------------------------------------- provisioning hot paths
# First, because routes are matched in order: what an identity provider sends by the
# thousand (create users and groups, add and remove members) is matched at once. Each runs
# its service and commits in one thread-pool hop (see ``work``).


@router.post("/Users", operation_id="scim_user_create", status_code=201)
async def create_user(
    work: CurrentScimWork,
    body: Body,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimUser, attributes, excluded_attributes)
    written = await work.run(lambda session, client: service.create_user(session, client, body))
    return _written_response(written, ScimUser, params=params, status_code=201)


@router.post("/Groups", operation_id="scim_group_create", status_code=201)
async def create_group(
    work: CurrentScimWork,
    body: Body,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimGroup, attributes, excluded_attributes)
    written = await work.run(lambda session, client: service.create_group(session, client, body))
    return _written_response(written, ScimGroup, params=params, status_code=201)


@router.patch("/Groups/{group_id}", operation_id="scim_group_patch")
async def patch_group(
    group_id: str,
    work: CurrentScimWork,
    body: Body,
    if_match: IfMatch = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    """204 by default (what Entra ID asks for); 200 with the group when attributes are asked."""
    params = _params(ScimGroup, attributes, excluded_attributes)

    def change(session: Session, client: ScimClient) -> tuple[int, ScimGroup | None]:
        group = service.patch_group(session, client, group_id, body, if_match)
        if params is None:
            return group.version, None
        return group.version, service.get_group(session, client, str(group.id), params)

    version, resource = await work.run(change)
    if resource is None:
        return Response(status_code=204, headers={"ETag": service.etag(version)})
    return _resource_response(resource, params=params)


# ---------------------------------------------------------------- Users


@router.get("/Users", operation_id="scim_users_list")
def list_users(
    session: SessionDep,
    client: CurrentScimClient,
    filter: FilterParam = None,
    start_index: StartIndex = 1,
    count: Count = None,
    sort_by: SortBy = None,
    sort_order: SortOrder = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimUser, attributes, excluded_attributes)
    query = service.Query(filter, start_index, count, sort_by, sort_order)
    return _list_response(service.search_users(session, client, query), params)


@router.post("/Users/.search", operation_id="scim_users_search")
def search_users(session: SessionDep, client: CurrentScimClient, body: Body) -> Response:
    query, params = _search_query(body, ScimUser)
    return _list_response(service.search_users(session, client, query), params)


@router.get("/Users/{user_id}", operation_id="scim_user_read")
def read_user(
    user_id: str,
    session: SessionDep,
    client: CurrentScimClient,
    if_none_match: IfNoneMatch = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimUser, attributes, excluded_attributes)
    resource = service.get_user(session, client, user_id)
    return _resource_response(resource, params=params, if_none_match=if_none_match)


@router.put("/Users/{user_id}", operation_id="scim_user_replace")
def replace_user(
    user_id: str,
    session: SessionDep,
    client: CurrentScimClient,
    body: Body,
    if_match: IfMatch = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimUser, attributes, excluded_attributes)
    resource = service.replace_user(session, client, user_id, body, if_match)
    return _resource_response(resource, params=params)


@router.patch("/Users/{user_id}", operation_id="scim_user_patch")
def patch_user(
    user_id: str,
    session: SessionDep,
    client: CurrentScimClient,
    body: Body,
    if_match: IfMatch = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimUser, attributes, excluded_attributes)
    resource = service.patch_user(session, client, user_id, body, if_match)
    return _resource_response(resource, params=params)


@router.delete("/Users/{user_id}", operation_id="scim_user_delete", status_code=204)
def delete_user(
    user_id: str, session: SessionDep, client: CurrentScimClient, if_match: IfMatch = None
) -> Response:
    service.delete_user(session, client, user_id, if_match)
    return Response(status_code=204)


# ---------------------------------------------------------------- Groups


@router.get("/Groups", operation_id="scim_groups_list")
def list_groups(
    session: SessionDep,
    client: CurrentScimClient,
    filter: FilterParam = None,
    start_index: StartIndex = 1,
    count: Count = None,
    sort_by: SortBy = None,
    sort_order: SortOrder = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimGroup, attributes, excluded_attributes)
    query = service.Query(filter, start_index, count, sort_by, sort_order)
    return _list_response(service.search_groups(session, client, query, params), params)


@router.post("/Groups/.search", operation_id="scim_groups_search")
def search_groups(session: SessionDep, client: CurrentScimClient, body: Body) -> Response:
    query, params = _search_query(body, ScimGroup)
    return _list_response(service.search_groups(session, client, query, params), params)


@router.get("/Groups/{group_id}", operation_id="scim_group_read")
def read_group(
    group_id: str,
    session: SessionDep,
    client: CurrentScimClient,
    if_none_match: IfNoneMatch = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimGroup, attributes, excluded_attributes)
    resource = service.get_group(session, client, group_id, params)
    return _resource_response(resource, params=params, if_none_match=if_none_match)


@router.put("/Groups/{group_id}", operation_id="scim_group_replace")
def replace_group(
    group_id: str,
    session: SessionDep,
    client: CurrentScimClient,
    body: Body,
    if_match: IfMatch = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> Response:
    params = _params(ScimGroup, attributes, excluded_attributes)
    written = service.replace_group(session, client, group_id, body, if_match)
    return _written_response(written, ScimGroup, params=params)


@router.delete("/Groups/{group_id}", operation_id="scim_group_delete", status_code=204)
def delete_group(
    group_id: str, session: SessionDep, client: CurrentScimClient, if_match: IfMatch = None
) -> Response:
    service.delete_group(session, client, group_id, if_match)
    return Response(status_code=204)


# ---------------------------------------------------------------- discovery


def _discovery_list(items: list[dict[str, Any]]) -> ScimResponse:
    return ScimResponse(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(items),
            "startIndex": 1,
            "itemsPerPage": len(items),
            "Resources": items,
        }
    )


def _schema_payload(schema: Schema, client: ScimClient) -> dict[str, Any]:
    body = schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return with_location(
        {**body, "meta": {"resourceType": "Schema"}}, f"{client.base_url}/Schemas/{schema.id}"
    )


def _resource_type_payload(resource_type: ResourceType, client: ScimClient) -> dict[str, Any]:
    body = resource_type.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return with_location(
        {**body, "meta": {"resourceType": "ResourceType"}},
        f"{client.base_url}/ResourceTypes/{resource_type.id}",
    )


@router.get("/ServiceProviderConfig", operation_id="scim_service_provider_config")
def service_provider_config(client: CurrentScimClient) -> Response:
    body = SERVICE_PROVIDER_CONFIG.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return ScimResponse(
        with_location(
            {**body, "meta": {"resourceType": "ServiceProviderConfig"}},
            f"{client.base_url}/ServiceProviderConfig",
        )
    )


@router.get("/ResourceTypes", operation_id="scim_resource_types_list")
def resource_types(client: CurrentScimClient) -> Response:
    return _discovery_list([_resource_type_payload(rt, client) for rt in PROVIDER.resource_types])


@router.get("/ResourceTypes/{name}", operation_id="scim_resource_type_read")
def resource_type(name: str, client: CurrentScimClient) -> Response:
    for rt in PROVIDER.resource_types:
        if str(rt.id).lower() == name.lower():
            return ScimResponse(_resource_type_payload(rt, client))
    raise NotFoundException(detail=f"ResourceType {name} not found")


@router.get("/Schemas", operation_id="scim_schemas_list")
def schemas(client: CurrentScimClient) -> Response:
    return _discovery_list([_schema_payload(s, client) for s in PROVIDER.schemas])


@router.get("/Schemas/{schema_id}", operation_id="scim_schema_read")
def schema(schema_id: str, client: CurrentScimClient) -> Response:
    for s in PROVIDER.schemas:
        if str(s.id).lower() == schema_id.lower():
            return ScimResponse(_schema_payload(s, client))
    raise NotFoundException(detail=f"Schema {schema_id} not found")


_KNOWN = ("Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas")


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def not_found(rest: str, request: Request) -> Response:
    """Unknown SCIM endpoints and methods, answered in SCIM's error format."""
    head = rest.split("/", 1)[0]
    if head in _KNOWN:
        return scim_error(405, f"{request.method} is not supported on /{rest}")
    return scim_error(404, f"no SCIM endpoint /{rest}")
