"""SCIM 2.0 service provider under /scim/v2 (SCIM bearer-token authenticated).

Users and Groups with filters, paging, sorting, attribute selection, ``/.search``, PUT,
PATCH (RFC 7644 §3.5.2 plus the Okta and Entra ID dialects) and DELETE; discovery endpoints
that describe exactly this. Every error is an RFC 7644 error body (see ``errors``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from scim2_models import (
    Context,
    NotFoundException,
    ResourceType,
    ResponseParameters,
    Schema,
    SearchRequest,
)

from okr_api.database import SessionDep
from okr_api.scim import service
from okr_api.scim.auth import CurrentScimClient, ScimClient
from okr_api.scim.errors import ScimResponse, ScimRoute, scim_error
from okr_api.scim.hot_routes import hot_routes
from okr_api.scim.http import (
    resource_response,
    response_parameters,
    scim_body,
    written_response,
)
from okr_api.scim.schemas import (
    POLICY,
    PROVIDER,
    SERVICE_PROVIDER_CONFIG,
    ScimGroup,
    ScimUser,
    with_location,
)

router = APIRouter(prefix="/scim/v2", route_class=ScimRoute, tags=["scim"])


Body = Annotated[dict[str, Any], Depends(scim_body)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


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
    return query, response_parameters(model, attributes, excluded)


FilterParam = Annotated[str | None, Query(alias="filter")]
StartIndex = Annotated[int, Query(alias="startIndex")]
Count = Annotated[int | None, Query(alias="count")]
SortBy = Annotated[str | None, Query(alias="sortBy")]
SortOrder = Annotated[str | None, Query(alias="sortOrder", pattern="(?i)^(ascending|descending)$")]
Attributes = Annotated[str | None, Query(alias="attributes")]
Excluded = Annotated[str | None, Query(alias="excludedAttributes")]


# ---------------------------------------------------------------- provisioning hot paths
# First, because routes are matched in order: what an identity provider sends by the
# thousand (create users and groups, add and remove members) is matched at once, by plain
# Starlette routes that skip FastAPI's per-request dependency solving (see ``hot_routes``).
router.routes.extend(hot_routes(router.prefix))


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
    params = response_parameters(ScimUser, attributes, excluded_attributes)
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
    params = response_parameters(ScimUser, attributes, excluded_attributes)
    resource = service.get_user(session, client, user_id)
    return resource_response(resource, params=params, if_none_match=if_none_match)


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
    params = response_parameters(ScimUser, attributes, excluded_attributes)
    resource = service.replace_user(session, client, user_id, body, if_match)
    return resource_response(resource, params=params)


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
    params = response_parameters(ScimUser, attributes, excluded_attributes)
    resource = service.patch_user(session, client, user_id, body, if_match)
    return resource_response(resource, params=params)


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
    params = response_parameters(ScimGroup, attributes, excluded_attributes)
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
    params = response_parameters(ScimGroup, attributes, excluded_attributes)
    resource = service.get_group(session, client, group_id, params)
    return resource_response(resource, params=params, if_none_match=if_none_match)


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
    params = response_parameters(ScimGroup, attributes, excluded_attributes)
    written = service.replace_group(session, client, group_id, body, if_match)
    return written_response(written, ScimGroup, params=params)


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
