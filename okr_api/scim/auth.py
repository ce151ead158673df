"""SCIM authentication: a tenant's SCIM bearer token, and nothing else, opens /scim/v2.

The token resolves its tenant through the one sanctioned cross-tenant lookup and binds the
request's database session to it, so every query that follows sees that tenant only.

A verified token is remembered by this process for ``TOKEN_CACHE_SECONDS`` (keyed by its
digest), so a provisioning run does not pay three lookups per request. Revoking a token
through the API forgets it here at once; other processes stop accepting it within that time,
and so does a suspended tenant.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from scim2_models import UnauthorizedException
from sqlalchemy.orm import Session

from okr_api.database import SessionDep
from okr_core import scim_tokens
from okr_core.actors import Actor
from okr_core.settings import Settings
from okr_core.tenancy import bind_tenant

TOKEN_CACHE_SECONDS = 4.0
TOKEN_CACHE_SIZE = 1000


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


@dataclass(frozen=True, slots=True)
class _Verified:
    token_id: uuid.UUID
    token_name: str
    tenant_id: uuid.UUID
    at: float


class TokenCache:
    """Digest -> verified token, for a few seconds; bounded, thread-safe."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, size: int = TOKEN_CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> _Verified | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None or time.monotonic() - entry.at >= self.ttl:
                self._entries.pop(digest, None)
                return None
            return entry

    def put(self, digest: str, entry: _Verified) -> None:
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, token_id: uuid.UUID) -> None:
        with self._lock:
            for digest in [d for d, e in self._entries.items() if e.token_id == token_id]:
                del self._entries[digest]


def token_cache(app: FastAPI) -> TokenCache:
    cache = getattr(app.state, "scim_token_cache", None)
    if cache is None:
        cache = app.state.scim_token_cache = TokenCache()
    return cache


async def authenticate(request: Request, session: Session) -> ScimClient:
    """The request's SCIM client, its tenant bound to ``session``; else 401.

    Async on purpose: a remembered token costs no thread hop; a new one is verified in the
    thread pool (database reads)."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    presented = credentials.strip()
    if scheme.lower() != "bearer" or not presented:
        raise UnauthorizedException(
            detail="send the tenant's SCIM token as 'Authorization: Bearer <token>'"
        )
    if not scim_tokens.is_well_formed(presented):
        raise UnauthorizedException(detail="the SCIM token is not valid or has been revoked")
    settings: Settings = request.app.state.settings
    secret = settings.secret_key.get_secret_value()
    digest = scim_tokens.digest(presented, secret=secret)
    cache = token_cache(request.app)
    verified = cache.get(digest)
    if verified is None:
        token = await run_in_threadpool(
            scim_tokens.authenticate,
            session,
            presented=presented,
            secret=secret,
            previous_secrets=settings.previous_secret_keys,
        )
        if token is None:
            raise UnauthorizedException(detail="the SCIM token is not valid or has been revoked")
        verified = _Verified(token.id, token.name, token.tenant_id, time.monotonic())
        cache.put(digest, verified)
    else:
        bind_tenant(session, verified.tenant_id)
    base = str(request.base_url).rstrip("/") + "/scim/v2"
    return ScimClient(
        token_id=verified.token_id,
        token_name=verified.token_name,
        tenant_id=verified.tenant_id,
        base_url=base,
    )


async def scim_client(request: Request, session: SessionDep) -> ScimClient:
    return await authenticate(request, session)


CurrentScimClient = Annotated[ScimClient, Depends(scim_client)]
