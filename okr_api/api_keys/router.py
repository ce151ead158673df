"""API key management for tenant admins under /api/v1/api-keys (cookie auth, CSRF-protected).

The secret of a key appears in exactly one response, the one that creates it (create or
rotate). Revoking a key also drops it from this process's verified-key cache at once; other API
processes stop accepting it within the cache's TTL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from okr_api.api_keys.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ApiKeyRotate,
    ScopeRead,
    UsageDayRead,
    UsageRead,
    UsageRouteRead,
)
from okr_api.auth.csrf import csrf_protect
from okr_api.auth.dependencies import TenantAdmin, require_role
from okr_api.database import SessionDep
from okr_api.public.runtime import get_runtime
from okr_core import api_keys, api_usage
from okr_core.api_keys import SCOPE_DESCRIPTIONS, ApiKeyCodec
from okr_core.errors import ValidationFailed
from okr_core.models import ApiKey
from okr_core.roles import Role

router = APIRouter(
    prefix="/api/v1/api-keys",
    tags=["api keys"],
    # Authentication first, so an anonymous caller is told to sign in (401), not refused a CSRF
    # token it cannot have yet (403).
    dependencies=[Depends(require_role(Role.tenant_admin)), Depends(csrf_protect)],
)


def to_read(key: ApiKey, *, now: datetime | None = None) -> ApiKeyRead:
    return ApiKeyRead(
        id=key.id,
        name=key.name,
        display_prefix=key.display_prefix,
        environment=key.environment,
        scopes=list(key.scopes),
        status=api_keys.status_of(key, now=now).value,
        created_at=key.created_at,
        created_by=key.created_by_label,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        last_used_ip=key.last_used_ip,
        rotated_from_id=key.rotated_from_id,
    )


def _codec(request: Request) -> ApiKeyCodec:
    return get_runtime(request.app).codec


@router.get("", operation_id="api_keys_list", response_model=list[ApiKeyRead])
def list_keys(
    session: SessionDep, principal: TenantAdmin, include_revoked: bool = True
) -> list[ApiKeyRead]:
    """The organisation's keys, newest first, with their last use."""
    now = datetime.now(UTC)
    return [
        to_read(k, now=now)
        for k in api_keys.list_api_keys(session, include_revoked=include_revoked)
    ]


@router.get("/scopes", operation_id="api_keys_scopes", response_model=list[ScopeRead])
def list_scopes(principal: TenantAdmin) -> list[ScopeRead]:
    return [ScopeRead(scope=s.value, description=text) for s, text in SCOPE_DESCRIPTIONS.items()]


@router.post("", operation_id="api_keys_create", status_code=201, response_model=ApiKeyCreated)
def create_key(
    request: Request, body: ApiKeyCreate, session: SessionDep, principal: TenantAdmin
) -> ApiKeyCreated:
    """Create a key; the response holds its secret, shown this once only."""
    if body.expires_at is not None and body.expires_in_days is not None:
        raise ValidationFailed(
            "send expires_at or expires_in_days, not both", details={"field": "expires_at"}
        )
    expires_at = body.expires_at
    if body.expires_in_days is not None:
        expires_at = datetime.now(UTC) + timedelta(days=body.expires_in_days)
    issued = api_keys.create_api_key(
        session,
        actor=principal.actor,
        codec=_codec(request),
        name=body.name,
        scopes=body.scopes,
        expires_at=expires_at,
        created_by_id=principal.user_id,
    )
    return ApiKeyCreated(**to_read(issued.key).model_dump(), key=issued.secret)


@router.get("/{key_id}", operation_id="api_keys_get", response_model=ApiKeyRead)
def get_key(key_id: uuid.UUID, session: SessionDep, principal: TenantAdmin) -> ApiKeyRead:
    return to_read(api_keys.get_api_key(session, key_id))


@router.post(
    "/{key_id}/rotate",
    operation_id="api_keys_rotate",
    status_code=201,
    response_model=ApiKeyCreated,
)
def rotate_key(
    request: Request,
    key_id: uuid.UUID,
    body: ApiKeyRotate,
    session: SessionDep,
    principal: TenantAdmin,
) -> ApiKeyCreated:
    """Issue a successor with the same name and scopes; the old key expires after the overlap."""
    issued = api_keys.rotate_api_key(
        session,
        actor=principal.actor,
        codec=_codec(request),
        key_id=key_id,
        old_key_expires_at=datetime.now(UTC) + timedelta(hours=body.old_key_expires_in_hours),
        created_by_id=principal.user_id,
    )
    old = api_keys.get_api_key(session, key_id)
    get_runtime(request.app).forget_key(old.digest)
    return ApiKeyCreated(**to_read(issued.key).model_dump(), key=issued.secret)


@router.delete("/{key_id}", operation_id="api_keys_revoke", response_model=ApiKeyRead)
def revoke_key(
    request: Request, key_id: uuid.UUID, session: SessionDep, principal: TenantAdmin
) -> ApiKeyRead:
    """Revoke a key: it stops working at once here and within seconds on every API process."""
    key = api_keys.revoke_api_key(session, actor=principal.actor, key_id=key_id)
    get_runtime(request.app).forget_key(key.digest)
    return to_read(key)


@router.get("/{key_id}/usage", operation_id="api_keys_usage", response_model=UsageRead)
def key_usage(
    key_id: uuid.UUID,
    session: SessionDep,
    principal: TenantAdmin,
    days: Annotated[int, Query(ge=1, le=90)] = 30,
) -> UsageRead:
    """Requests per day, error rate and p95 latency of one key over the last ``days`` days."""
    summary = api_usage.usage_summary(session, key_id=key_id, days=days)
    return UsageRead(
        key_id=summary.key_id,
        since=summary.since,
        until=summary.until,
        requests=summary.requests,
        errors=summary.errors,
        error_rate=summary.error_rate,
        p95_ms=summary.p95_ms,
        days=[
            UsageDayRead(
                day=d.day,
                requests=d.requests,
                errors=d.errors,
                server_errors=d.server_errors,
                error_rate=d.error_rate,
                p95_ms=d.p95_ms,
                mean_ms=d.mean_ms,
            )
            for d in summary.days
        ],
        routes=[
            UsageRouteRead(route=r.route, requests=r.requests, errors=r.errors, p95_ms=r.p95_ms)
            for r in summary.routes
        ],
    )
