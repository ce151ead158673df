"""Reading SCIM requests and writing SCIM responses: shared by every SCIM route.

The body parser accepts ``application/scim+json`` and ``application/json`` objects within the
payload limit; the response helpers apply the client's ``attributes``/``excludedAttributes``
selection and set ``ETag`` and ``Location`` the way RFC 7644 asks.
"""

from __future__ import annotations

import json
from typing import Any

from scim2_models import (
    Context,
    InvalidSyntaxException,
    PayloadTooLargeException,
    ResponseParameters,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from okr_api.scim.errors import ScimResponse
from okr_api.scim.schemas import MAX_PAYLOAD_BYTES, POLICY

_JSON_TYPES = ("application/scim+json", "application/json")


async def scim_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; application/scim+json and application/json both accepted."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in _JSON_TYPES and not media.endswith("+json"):
        raise HTTPException(415, f"send application/scim+json, not {media}")
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


def response_parameters(
    model: type[Any], attributes: str | None, excluded: str | None
) -> ResponseParameters[Any] | None:
    """The client's attribute selection (query parameters), or None for the full resource."""
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


def resource_response(
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


def written_response(
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
        return resource_response(resource, params=params, status_code=status_code)
    meta = body["meta"]
    headers = {"ETag": meta["version"]}
    if status_code == 201:
        headers["Location"] = meta["location"]
    return ScimResponse(body, status_code=status_code, headers=headers)
