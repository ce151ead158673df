"""The admin UI's Audit log page (tenant admins): filters, cursor paging and CSV export.

Filters are the ones of ``GET /api/v1/audit-events`` (actor, actor type, action or action
prefix*, target, time range); "Older events" follows the same opaque cursor, and the export
link downloads exactly the filtered events as CSV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from okr_api.admin.auth import AdminPageRoute, PageTenantAdmin, track_unit_of_work
from okr_api.admin.rendering import render_page
from okr_api.database import SessionDep
from okr_core import audit_search
from okr_core.audit_search import AuditFilter
from okr_core.errors import ValidationFailed

router = APIRouter(route_class=AdminPageRoute, dependencies=[Depends(track_unit_of_work)])
PAGE_SIZE = 50
ACTOR_TYPES = (("", "Anyone"), ("user", "People"), ("scim_token", "SCIM tokens"),
               ("api_key", "API keys"), ("system", "System"), ("cli", "CLI"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    actor_label: str
    actor_type: str
    action: str
    target_type: str
    target_id: str | None
    target_label: str | None
    changed_fields: tuple[str, ...]
    changes_json: str


def _moment(value: str, field: str) -> datetime | None:
    """A date or date-time from a form field, read as UTC when it has no offset."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{field} is not a date", details={"field": field}) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.get("", response_class=HTMLResponse, name="admin_audit_log")
def audit_log_page(
    request: Request,
    session: SessionDep,
    _principal: PageTenantAdmin,
    actor: str = "",
    actor_type: str = "",
    action: str = "",
    target_id: str = "",
    since: str = "",
    until: str = "",
    cursor: str = "",
) -> HTMLResponse:
    form = {
        "actor": actor.strip(),
        "actor_type": actor_type.strip(),
        "action": action.strip(),
        "target_id": target_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    criteria = AuditFilter(
        actor=form["actor"] or None,
        actor_type=form["actor_type"] or None,
        action=form["action"] or None,
        target_id=form["target_id"] or None,
        since=_moment(form["since"], "since"),
        until=_moment(form["until"], "until"),
    )
    events, next_cursor = audit_search.search(
        session, criteria, cursor=cursor or None, limit=PAGE_SIZE
    )
    labels = audit_search.target_labels(session, events)
    rows = [
        AuditRow(
            at=e.occurred_at,
            actor_label=e.actor_label,
            actor_type=e.actor_type,
            action=e.action,
            target_type=e.target_type,
            target_id=e.target_id,
            target_label=labels.get(e.target_id or ""),
            changed_fields=tuple(sorted(e.changes)),
            changes_json=json.dumps(e.changes, indent=2, sort_keys=True, default=str),
        )
        for e in events
    ]
    filters = {key: value for key, value in form.items() if value}
    api_filters = dict(filters)
    for key in ("since", "until"):
        moment = getattr(criteria, key)
        if moment is not None:
            api_filters[key] = moment.isoformat()
    return render_page(
        request,
        "audit_log.html",
        active="audit-log",
        events=rows,
        form=form,
        actor_types=ACTOR_TYPES,
        filtered=bool(filters),
        first_page=not cursor,
        older_url=f"?{urlencode({**filters, 'cursor': next_cursor})}" if next_cursor else None,
        newest_url=f"?{urlencode(filters)}" if filters else "?",
        export_url="/api/v1/audit-events/export.csv"
        + (f"?{urlencode(api_filters)}" if api_filters else ""),
    )
