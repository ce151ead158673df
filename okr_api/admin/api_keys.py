"""The admin UI's API keys pages (tenant admins).

* ``/admin/api-keys``: the organisation's keys with their scopes, expiry and last use, the form
  that creates one (name, scopes, expiry), and per key a rotate (choosing how long the old key
  keeps working) and a confirmed revoke. A new key, created or rotated, is shown once, in a
  dialog in the answer to the form that made it, with a copy button; it is never stored in the
  session, a URL or a log.
* ``/admin/api-keys/{id}``: the key's usage over the last 30 days, requests per day as a chart
  drawn server-side, with error rate and p95 latency per day.

Plain HTML forms with the session's CSRF token, through the same core services as
``/api/v1/api-keys``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from okr_api.admin.auth import AdminPageRoute, PageTenantAdmin, track_unit_of_work
from okr_api.admin.rendering import render_page
from okr_api.admin.service import parse_id
from okr_api.auth.csrf import csrf_protect
from okr_api.database import SessionDep
from okr_api.public.runtime import get_runtime
from okr_core import api_keys, api_usage
from okr_core.api_keys import SCOPE_DESCRIPTIONS, IssuedKey, KeyStatus
from okr_core.api_usage import UsageSummary
from okr_core.errors import ValidationFailed
from okr_core.models import ApiKey

router = APIRouter(
    route_class=AdminPageRoute,
    dependencies=[Depends(track_unit_of_work), Depends(csrf_protect)],
)

EXPIRY_CHOICES = (("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year"))
# How long a rotated key keeps working next to its successor (hours; the API allows 0 to 719).
OVERLAP_CHOICES = (
    ("0", "Stops now"),
    ("1", "For 1 more hour"),
    ("24", "For 1 more day"),
    ("168", "For 7 more days"),
    ("672", "For 28 more days"),
)
DEFAULT_OVERLAP = "24"
USAGE_DAYS = 30


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: uuid.UUID
    name: str
    display_prefix: str
    scopes: list[str]
    status: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None


def _rows(keys: list[ApiKey]) -> list[KeyRow]:
    now = datetime.now(UTC)
    return [
        KeyRow(
            id=k.id,
            name=k.name,
            display_prefix=k.display_prefix,
            scopes=list(k.scopes),
            status=api_keys.status_of(k, now=now).value,
            created_at=k.created_at,
            created_by=k.created_by_label,
            expires_at=k.expires_at,
            last_used_at=k.last_used_at,
            last_used_ip=k.last_used_ip,
        )
        for k in keys
    ]


@dataclass(frozen=True, slots=True)
class Rotation:
    """What the copy-once dialog says about the key a rotation replaced."""

    display_prefix: str
    expires_at: datetime | None
    stopped: bool  # "Stops now" was chosen: the old key already fails


def _page(
    request: Request,
    session: SessionDep,
    *,
    issued: IssuedKey | None = None,
    rotation: Rotation | None = None,
    error: str | None = None,
    notice: str | None = None,
    form: Mapping[str, object] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render_page(
        request,
        "api_keys.html",
        active="api-keys",
        status_code=status_code,
        keys=_rows(list(api_keys.list_api_keys(session))),
        scopes=[(s.value, text) for s, text in SCOPE_DESCRIPTIONS.items()],
        expiry_choices=EXPIRY_CHOICES,
        overlap_choices=OVERLAP_CHOICES,
        default_overlap=DEFAULT_OVERLAP,
        issued=issued,
        rotation=rotation,
        error=error,
        notice=notice,
        form=form or {"name": "", "scopes": [], "expires_in_days": "90"},
    )


@router.get("", response_class=HTMLResponse, name="admin_api_keys")
def api_keys_page(
    request: Request, session: SessionDep, _principal: PageTenantAdmin, revoked: str | None = None
) -> HTMLResponse:
    notice = f"Revoked “{revoked}”. Calls with it now fail." if revoked else None
    return _page(request, session, notice=notice)


@router.post("", response_class=HTMLResponse, name="admin_api_key_create")
def create_key(
    request: Request,
    session: SessionDep,
    principal: PageTenantAdmin,
    name: Annotated[str, Form(max_length=200)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[str, Form(max_length=4)] = "",
) -> HTMLResponse:
    form = {"name": name, "scopes": scopes or [], "expires_in_days": expires_in_days}
    try:
        days = int(expires_in_days) if expires_in_days else None
        if days is not None and not 1 <= days <= 3650:
            raise ValueError
    except ValueError:
        return _page(
            request, session, error="Choose an expiry from the list.", form=form, status_code=422
        )
    try:
        issued = api_keys.create_api_key(
            session,
            actor=principal.actor,
            codec=get_runtime(request.app).codec,
            name=name,
            scopes=scopes or [],
            expires_at=datetime.now(UTC) + timedelta(days=days) if days else None,
            created_by_id=principal.user_id,
        )
    except ValidationFailed as exc:
        return _page(request, session, error=exc.message, form=form, status_code=422)
    session.flush()
    return _page(request, session, issued=issued, status_code=201)


@router.post("/{key_id}/rotate", response_class=HTMLResponse, name="admin_api_key_rotate")
def rotate_key(
    request: Request,
    session: SessionDep,
    principal: PageTenantAdmin,
    key_id: str,
    old_key_expires_in_hours: Annotated[str, Form(max_length=4)] = DEFAULT_OVERLAP,
) -> HTMLResponse:
    """Issue a successor with the same name and scopes, shown once in the same dialog as a new
    key; the old key keeps working for the chosen overlap (audited as the API's rotate is)."""
    old_id = parse_id(key_id, noun="API key")
    if old_key_expires_in_hours not in {value for value, _ in OVERLAP_CHOICES}:
        return _page(
            request,
            session,
            error="Choose how long the old key keeps working from the list.",
            status_code=422,
        )
    hours = int(old_key_expires_in_hours)
    try:
        issued = api_keys.rotate_api_key(
            session,
            actor=principal.actor,
            codec=get_runtime(request.app).codec,
            key_id=old_id,
            old_key_expires_at=datetime.now(UTC) + timedelta(hours=hours),
            created_by_id=principal.user_id,
        )
    except ValidationFailed as exc:
        return _page(request, session, error=exc.message, status_code=422)
    old = api_keys.get_api_key(session, old_id)
    get_runtime(request.app).forget_key(old.digest)
    session.flush()
    rotation = Rotation(
        display_prefix=old.display_prefix,
        expires_at=old.expires_at,
        stopped=api_keys.status_of(old) is not KeyStatus.active,
    )
    return _page(request, session, issued=issued, rotation=rotation, status_code=201)


@router.post("/{key_id}/revoke", name="admin_api_key_revoke")
def revoke_key(
    request: Request, session: SessionDep, principal: PageTenantAdmin, key_id: str
) -> RedirectResponse:
    key = api_keys.revoke_api_key(
        session, actor=principal.actor, key_id=parse_id(key_id, noun="API key")
    )
    get_runtime(request.app).forget_key(key.digest)
    return RedirectResponse(
        str(request.url_for("admin_api_keys").include_query_params(revoked=key.name)),
        status_code=303,
    )


# -- usage chart -----------------------------------------------------------------------------
CHART_WIDTH = 720
CHART_HEIGHT = 240
CHART_LEFT = 48
CHART_RIGHT = 12
CHART_TOP = 12
CHART_BOTTOM = 32


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    error_height: float
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return value


def usage_chart(summary: UsageSummary) -> BarChart:
    """Requests per day as bars, the errors of each day as the bar's darker top."""
    right = CHART_WIDTH - CHART_RIGHT
    bottom = CHART_HEIGHT - CHART_BOTTOM
    top = CHART_TOP
    peak = _nice_max(max((d.requests for d in summary.days), default=0))
    slot = (right - CHART_LEFT) / max(1, len(summary.days))
    bars = []
    for index, d in enumerate(summary.days):
        height = (bottom - top) * d.requests / peak
        error_height = (bottom - top) * d.errors / peak
        label = f"{d.day:%-d %b}: {d.requests:,} requests, {d.errors:,} errors"
        if d.p95_ms is not None:
            label += f", p95 {d.p95_ms:g} ms"
        bars.append(
            Bar(
                x=round(CHART_LEFT + index * slot + slot * 0.15, 2),
                y=round(bottom - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                error_height=round(error_height, 2),
                label=label,
            )
        )
    y_ticks = tuple(
        Tick(position=round(bottom - (bottom - top) * i / 4, 2), label=f"{peak * i // 4:,}")
        for i in range(5)
    )
    x_ticks = tuple(
        Tick(position=round(CHART_LEFT + i * slot + slot / 2, 2), label=f"{d.day:%-d %b}")
        for i, d in enumerate(summary.days)
        if i % 7 == (len(summary.days) - 1) % 7
    )
    return BarChart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=CHART_LEFT,
        right=right,
        top=top,
        bottom=bottom,
        bars=tuple(bars),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
    )


@router.get("/{key_id}", response_class=HTMLResponse, name="admin_api_key_usage")
def usage_page(
    request: Request, session: SessionDep, _principal: PageTenantAdmin, key_id: str
) -> HTMLResponse:
    key = api_keys.get_api_key(session, parse_id(key_id, noun="API key"))
    summary = api_usage.usage_summary(session, key_id=key.id, days=USAGE_DAYS)
    busiest: date | None = (
        max(summary.days, key=lambda d: d.requests).day if summary.requests else None
    )
    return render_page(
        request,
        "api_key_usage.html",
        active="api-keys",
        key=_rows([key])[0],
        summary=summary,
        chart=usage_chart(summary),
        busiest=busiest,
        active_status=KeyStatus.active.value,
    )
