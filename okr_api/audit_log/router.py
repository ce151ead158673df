"""The tenant's audit trail for tenant admins under /api/v1/audit-events.

Filters: ``actor`` (id or label), ``actor_type``, ``action`` (exact, or a prefix ending in
``*``), ``target_type``, ``target_id``, ``since``/``until``; newest first with an opaque
``cursor``. ``/export.csv`` streams every matching event as CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from okr_api.audit_log.schemas import AuditEventPage, AuditEventRead
from okr_api.auth.csrf import csrf_protect
from okr_api.auth.dependencies import TenantAdmin, require_role
from okr_api.database import SessionDep
from okr_core import audit_search
from okr_core.audit_search import AuditFilter
from okr_core.models import AuditEvent
from okr_core.roles import Role

router = APIRouter(
    prefix="/api/v1/audit-events",
    tags=["audit log"],
    dependencies=[Depends(require_role(Role.tenant_admin)), Depends(csrf_protect)],
)

CSV_COLUMNS = (
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "changes",
)


def audit_filter(
    actor: Annotated[str | None, Query(max_length=320)] = None,
    actor_type: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[str | None, Query(max_length=65)] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilter:
    return AuditFilter(
        actor=actor or None,
        actor_type=actor_type or None,
        action=action or None,
        target_type=target_type or None,
        target_id=target_id or None,
        since=since,
        until=until,
    )


Filter = Annotated[AuditFilter, Depends(audit_filter)]


def to_read(event: AuditEvent, labels: dict[str, str]) -> AuditEventRead:
    return AuditEventRead(
        id=event.id,
        occurred_at=event.occurred_at,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        target_label=labels.get(event.target_id or ""),
        changes=event.changes,
    )


@router.get("", operation_id="audit_events_list", response_model=AuditEventPage)
def list_events(
    session: SessionDep,
    principal: TenantAdmin,
    criteria: Filter,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=audit_search.MAX_PAGE)] = 50,
) -> AuditEventPage:
    events, next_cursor = audit_search.search(session, criteria, cursor=cursor, limit=limit)
    labels = audit_search.target_labels(session, events)
    return AuditEventPage(items=[to_read(e, labels) for e in events], next_cursor=next_cursor)


def _cell(value: object) -> str:
    """A CSV cell that spreadsheets will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/export.csv", operation_id="audit_events_export_csv")
def export_csv(session: SessionDep, principal: TenantAdmin, criteria: Filter) -> StreamingResponse:
    events = list(audit_search.iterate(session, criteria))
    labels = audit_search.target_labels(session, events)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for event in events:
            writer.writerow(
                [
                    event.occurred_at.isoformat(),
                    _cell(event.actor_type),
                    _cell(event.actor_id),
                    _cell(event.actor_label),
                    _cell(event.action),
                    _cell(event.target_type),
                    _cell(event.target_id),
                    _cell(labels.get(event.target_id or "")),
                    _cell(json.dumps(event.changes, sort_keys=True)),
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'},
    )
