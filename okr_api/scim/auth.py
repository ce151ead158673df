"""SCIM authentication: a tenant's SCIM bearer token, and nothing else, opens /scim/v2.

The token resolves its tenant through the one sanctioned cross-tenant lookup and binds the
request's database session to it, so every query that follows sees that tenant only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from scim2_models import UnauthorizedException

from okr_api.database import SessionDep, SettingsDep
from okr_core import scim_tokens
from okr_core.actors import Actor


@dataclass(frozen=True, slots=True)
class ScimClient:
    token_id: uuid.UUID
    token_name: str
    tenant_id: uuid.UUID
    base_url: str  # ends with /scim/v2

    @property
    def actor(self) -> Actor:
        return Actor(type="scim_token", id=str(self.token_id), label=self.token_name)

    def location(self, endpoint: str, resource_id: uuid.UUID | str) -> str:
        return f"{self.base_url}/{endpoint}/{resource_id}"


def scim_client(request: Request, session: SessionDep, settings: SettingsDep) -> ScimClient:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise UnauthorizedException(
            detail="send the tenant's SCIM token as 'Authorization: Bearer <token>'"
        )
    token = scim_tokens.authenticate(
        session,
        presented=credentials.strip(),
        secret=settings.secret_key.get_secret_value(),
    )
    if token is None:
        raise UnauthorizedException(detail="the SCIM token is not valid or has been revoked")
    base = str(request.base_url).rstrip("/") + "/scim/v2"
    return ScimClient(
        token_id=token.id, token_name=token.name, tenant_id=token.tenant_id, base_url=base
    )


CurrentScimClient = Annotated[ScimClient, Depends(scim_client)]
