"""The admin UI's Integrations pages: connect Jira and GitHub, watch every sync's health, bind key
results to source metrics with a preview.

* ``/admin/integrations``: one card per integration with its status (last attempt and success,
  next sync, success rates over 24 hours and 7 days, last error) and, for tenant admins, its
  controls (sync now, pause or resume, interval and credentials, connection test, webhook secret,
  disconnect), plus the form that connects a new source;
* ``/admin/integrations/bindings``: the organisation's bound key results with the lineage of
  their latest automated check-in, and the form that binds one: **Preview** runs the binding once
  and shows the value and the matching records, **Save binding** stores it.

Tenant admins manage integrations; OKR editors see them and bind key results; viewers get the
403 page. Plain HTML forms with the session's CSRF token; everything goes through the same core
services as the REST API. Credentials are write-only: password fields that are never filled back
in. A webhook secret is shown once, in the answer to the form that issued it, and never stored
in the session or a URL.
"""

from __future__ import annotations

import contextlib
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.admin.auth import AdminPageRoute, require_page_role, track_unit_of_work
from okr_api.admin.formatting import number, when
from okr_api.admin.rendering import render_page
from okr_api.admin.service import parse_id
from okr_api.auth.csrf import csrf_protect
from okr_api.auth.principal import Principal
from okr_api.database import SessionDep
from okr_api.integrations.service import CipherDep, parse_lineage, test_connection, webhook_url
from okr_core import integration_status, integrations, kr_bindings
from okr_core.binding_preview import BindingPreview, preview_binding
from okr_core.errors import OkrError, ValidationFailed
from okr_core.integration_status import IntegrationStatus
from okr_core.models import (
    AuthKind,
    CheckIn,
    CheckInSource,
    Integration,
    KeyResult,
    KeyResultStatus,
    KrBinding,
    Metric,
    Objective,
    Source,
)
from okr_core.models.integration import (
    DEFAULT_SYNC_INTERVAL_MINUTES,
    MAX_SYNC_INTERVAL_MINUTES,
    MIN_SYNC_INTERVAL_MINUTES,
)
from okr_core.models.kr_binding import METRIC_SOURCE
from okr_core.roles import Role
from okr_core.sources.errors import PermanentSourceError, TransientSourceError

PageEditor = Annotated[Principal, Depends(require_page_role(Role.okr_editor))]
PageAdmin = Annotated[Principal, Depends(require_page_role(Role.tenant_admin))]

# Included by ``okr_api.admin.router`` under /admin/integrations, before its catch-all 404.
router = APIRouter(
    include_in_schema=False,
    route_class=AdminPageRoute,
    dependencies=[Depends(track_unit_of_work), Depends(csrf_protect)],
)

SOURCE_LABELS = {Source.jira: "Jira Cloud", Source.github: "GitHub"}
AUTH_LABELS = {
    AuthKind.api_token: "Jira API token (with the account email)",
    AuthKind.oauth_token: "Jira OAuth 2.0 access token",
    AuthKind.token: "GitHub personal access token",
    AuthKind.app_installation: "GitHub App installation token",
}
METRIC_LABELS = {
    Metric.jira_issue_count: "Jira: issues matching the JQL",
    Metric.jira_done_share: "Jira: share of matching issues done (%)",
    Metric.jira_field_sum: "Jira: sum of a numeric field (story points)",
    Metric.github_merged_prs: "GitHub: merged pull requests",
    Metric.github_merge_rate: "GitHub: merge rate, merged / closed (%)",
    Metric.github_median_hours_to_merge: "GitHub: median hours to merge",
}
NOTICES = {
    "synced": "Sync requested: {name} syncs within a minute.",
    "paused": "{name} is paused: no scheduled syncs until you resume it.",
    "resumed": "{name} is resumed and syncs on its schedule again.",
    "saved": "Settings of {name} saved.",
    "deleted": "The integration is disconnected; its key results keep their values.",
    "bound": "Binding saved: the key result updates with the next sync of {name}.",
    "unbound": "Binding removed: the key result keeps its values and takes check-ins again.",
}
PREVIEW_SAMPLE_SIZE = 20

T = TypeVar("T")


# --- view models ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntegrationCard:
    id: uuid.UUID
    name: str
    source: Source
    source_label: str
    base_url: str
    account: str
    auth_label: str
    interval_minutes: int
    interval_label: str
    is_paused: bool
    webhook_url: str
    status: IntegrationStatus
    rate_24h: str
    rate_7d: str
    bindings: int


@dataclass(frozen=True, slots=True)
class BindingRow:
    key_result_id: uuid.UUID
    key_result_title: str
    objective_title: str
    period: str
    integration_name: str
    metric_label: str
    parameters_label: str
    whole_history: bool
    current_value: str
    lineage: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class KeyResultOption:
    id: uuid.UUID
    label: str
    bound: bool


@dataclass
class BindingForm:
    """What the editor typed, kept across a preview so Save sends exactly what was previewed."""

    key_result_id: str = ""
    integration_id: str = ""
    metric: str = ""
    jql: str = ""
    field: str = ""
    repositories: str = ""
    whole_history: bool = False
    description: str = ""

    def parameters(self) -> dict[str, Any]:
        try:
            source = METRIC_SOURCE[Metric(self.metric)]
        except ValueError:
            return {}
        if source == "github":
            names = [name for name in re.split(r"[\s,]+", self.repositories) if name]
            return {"repositories": names}
        values = {"jql": self.jql}
        if self.metric == Metric.jira_field_sum.value:
            values["field"] = self.field
        return values


@dataclass(frozen=True, slots=True)
class PreviewView:
    value: str
    record_count: int
    query: str
    records: list[dict[str, Any]]
    unit: str


@dataclass
class ConnectForm:
    source: str = Source.jira.value
    name: str = ""
    base_url: str = ""
    auth_kind: str = AuthKind.api_token.value
    account: str = ""
    sync_interval_minutes: str = str(DEFAULT_SYNC_INTERVAL_MINUTES)


@dataclass
class PageState:
    """One-off things a form answer shows: a notice, an error, a webhook secret, a test."""

    notice: str | None = None
    error: str | None = None
    error_for: str | None = None  # "connect", "binding", or an integration id
    issued_secret: dict[str, str] | None = None
    test_result: dict[str, Any] | None = None
    connect: ConnectForm = field(default_factory=ConnectForm)


def interval_label(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return "every hour" if hours == 1 else f"every {hours} hours"
    return f"every {minutes} minutes"


def _rate(succeeded: int, finished: int) -> str:
    if not finished:
        return "—"
    return f"{round(100 * succeeded / finished)}%"


def integration_cards(session: Session, request: Request) -> list[IntegrationCard]:
    rows = {row.id: row for row in integrations.list_integrations(session)}
    counts: dict[uuid.UUID, int] = {}
    for binding in session.scalars(select(KrBinding)).all():
        counts[binding.integration_id] = counts.get(binding.integration_id, 0) + 1
    cards = []
    for status in integration_status.integration_statuses(session):
        row = rows[status.integration_id]
        cards.append(
            IntegrationCard(
                id=row.id,
                name=row.name,
                source=row.source,
                source_label=SOURCE_LABELS.get(row.source, row.source.value),
                base_url=row.base_url,
                account=row.account,
                auth_label=AUTH_LABELS.get(row.auth_kind, row.auth_kind.value),
                interval_minutes=row.sync_interval_minutes,
                interval_label=interval_label(row.sync_interval_minutes),
                is_paused=row.is_paused,
                webhook_url=webhook_url(request, row),
                status=status,
                rate_24h=_rate(status.success_24h.succeeded, status.success_24h.finished),
                rate_7d=_rate(status.success_7d.succeeded, status.success_7d.finished),
                bindings=counts.get(row.id, 0),
            )
        )
    return cards


def _parameters_label(binding: KrBinding) -> str:
    parameters = binding.parameters or {}
    if "repositories" in parameters:
        return ", ".join(str(name) for name in parameters["repositories"])
    label = str(parameters.get("jql", ""))
    if "field" in parameters:
        label += f" · sum of {parameters['field']}"
    return label


def binding_rows(session: Session) -> list[BindingRow]:
    names = {row.id: row.name for row in integrations.list_integrations(session)}
    krs = {kr.id: kr for kr in session.scalars(select(KeyResult)).all()}
    objectives = {o.id: o for o in session.scalars(select(Objective)).all()}
    rows = []
    for binding in session.scalars(select(KrBinding)).all():
        kr = krs.get(binding.key_result_id)
        if kr is None:
            continue
        objective = objectives.get(kr.objective_id)
        latest = session.scalars(
            select(CheckIn)
            .where(
                CheckIn.key_result_id == kr.id,
                CheckIn.source == CheckInSource.automated,
                CheckIn.archived_at.is_(None),
            )
            .order_by(CheckIn.checked_at.desc())
            .limit(1)
        ).first()
        rows.append(
            BindingRow(
                key_result_id=kr.id,
                key_result_title=kr.title,
                objective_title=objective.title if objective else "",
                period=objective.period if objective else "",
                integration_name=names.get(binding.integration_id, "?"),
                metric_label=METRIC_LABELS.get(binding.metric, binding.metric.value),
                parameters_label=_parameters_label(binding),
                whole_history=binding.whole_history,
                current_value=number(kr.current_value),
                lineage=None
                if latest is None
                else {"checked_at": latest.checked_at, **parse_lineage(latest)},
            )
        )
    rows.sort(key=lambda r: (r.period, r.objective_title, r.key_result_title))
    return rows


def key_result_options(session: Session) -> list[KeyResultOption]:
    bound = set(session.scalars(select(KrBinding.key_result_id)).all())
    objectives = {o.id: o for o in session.scalars(select(Objective)).all()}
    options = []
    for kr in session.scalars(
        select(KeyResult).where(KeyResult.status == KeyResultStatus.active)
    ).all():
        objective = objectives.get(kr.objective_id)
        prefix = f"{objective.period} · {objective.title}: " if objective else ""
        options.append(KeyResultOption(kr.id, f"{prefix}{kr.title}", kr.id in bound))
    options.sort(key=lambda o: o.label)
    return options


def _form_from_binding(binding: KrBinding) -> BindingForm:
    parameters = binding.parameters or {}
    return BindingForm(
        key_result_id=str(binding.key_result_id),
        integration_id=str(binding.integration_id),
        metric=binding.metric.value,
        jql=str(parameters.get("jql", "")),
        field=str(parameters.get("field", "")),
        repositories=", ".join(parameters.get("repositories", [])),
        whole_history=binding.whole_history,
        description=binding.description,
    )


# --- rendering ------------------------------------------------------------------------------


def _integrations_page(
    request: Request,
    session: Session,
    principal: Principal,
    state: PageState,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    return render_page(
        request,
        "integrations.html",
        active="integrations",
        status_code=status_code,
        cards=integration_cards(session, request),
        can_manage=principal.can(Role.tenant_admin),
        state=state,
        sources=[(s.value, label) for s, label in SOURCE_LABELS.items()],
        auth_kinds=[(k.value, label) for k, label in AUTH_LABELS.items()],
        min_interval=MIN_SYNC_INTERVAL_MINUTES,
        max_interval=MAX_SYNC_INTERVAL_MINUTES,
    )


def _bindings_page(
    request: Request,
    session: Session,
    *,
    form: BindingForm,
    notice: str | None = None,
    error: str | None = None,
    preview: PreviewView | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render_page(
        request,
        "integration_bindings.html",
        active="integrations",
        status_code=status_code,
        bindings=binding_rows(session),
        key_results=key_result_options(session),
        integration_choices=[
            (str(row.id), f"{row.name} ({SOURCE_LABELS.get(row.source, row.source.value)})")
            for row in integrations.list_integrations(session)
        ],
        metrics=[(m.value, label) for m, label in METRIC_LABELS.items()],
        form=form,
        notice=notice,
        error=error,
        preview=preview,
    )


def _notice(request: Request, session: Session) -> str | None:
    code = request.query_params.get("notice", "")
    template = NOTICES.get(code)
    if template is None:
        return None
    name = "The integration"
    raw_id = request.query_params.get("id", "")
    try:
        row = session.scalars(
            select(Integration).where(Integration.id == uuid.UUID(raw_id))
        ).one_or_none()
    except ValueError:
        row = None
    if row is not None:
        name = row.name
    return template.format(name=name)


def _redirect(path: str, notice: str, integration_id: uuid.UUID | None = None) -> RedirectResponse:
    target = f"{path}?notice={notice}"
    if integration_id is not None:
        target += f"&id={integration_id}"
    return RedirectResponse(target, status_code=303)


def _attempt(session: Session, action: Callable[[], T]) -> T:
    """Run a write in a savepoint: a refused form rolls back only its own changes."""
    savepoint = session.begin_nested()
    try:
        result = action()
    except OkrError:
        savepoint.rollback()
        raise
    savepoint.commit()
    return result


def _status_for(exc: OkrError) -> int:
    return exc.status if 400 <= exc.status < 500 else 422


# --- integrations page ----------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, name="admin_integrations")
def integrations_page(request: Request, session: SessionDep, principal: PageEditor) -> HTMLResponse:
    state = PageState(notice=_notice(request, session))
    return _integrations_page(request, session, principal, state)


@router.post("", response_class=HTMLResponse, name="admin_integration_connect")
def connect(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PageAdmin,
    source: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    base_url: Annotated[str, Form()] = "",
    auth_kind: Annotated[str, Form()] = "",
    account: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "",
    sync_interval_minutes: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Connect a source; the answer shows the webhook URL and secret once."""
    typed = ConnectForm(source, name, base_url, auth_kind, account, sync_interval_minutes)
    try:
        interval = int(sync_interval_minutes or DEFAULT_SYNC_INTERVAL_MINUTES)
    except ValueError:
        interval = -1
    try:
        issued = _attempt(
            session,
            lambda: integrations.create_integration(
                session,
                actor=principal.actor,
                cipher=cipher,
                source=source,
                name=name,
                base_url=base_url,
                auth_kind=auth_kind,
                account=account,
                secret=secret,
                sync_interval_minutes=interval,
            ),
        )
    except OkrError as exc:
        state = PageState(error=exc.message, error_for="connect", connect=typed)
        return _integrations_page(request, session, principal, state, status_code=_status_for(exc))
    row = issued.integration
    state = PageState(
        notice=f"{row.name} is connected; its first sync starts within a minute.",
        issued_secret={
            "integration": row.name,
            "url": webhook_url(request, row),
            "secret": issued.webhook_secret,
            "header": "X-Hub-Signature-256" if row.source is Source.github else "X-Hub-Signature",
        },
    )
    return _integrations_page(request, session, principal, state)


@router.post("/{integration_id}/settings", response_model=None)
def save_settings(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PageAdmin,
    integration_id: str,
    name: Annotated[str, Form()] = "",
    base_url: Annotated[str, Form()] = "",
    account: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "",
    sync_interval_minutes: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Interval, name, address and account; a non-empty ``secret`` replaces the credentials."""
    row_id = parse_id(integration_id, noun="integration")
    integrations.get_integration(session, row_id)
    changes: dict[str, Any] = {}
    if name:
        changes["name"] = name
    if base_url:
        changes["base_url"] = base_url
    changes["account"] = account
    if secret:
        changes["secret"] = secret
    if sync_interval_minutes:
        try:
            changes["sync_interval_minutes"] = int(sync_interval_minutes)
        except ValueError:
            changes["sync_interval_minutes"] = -1
    try:
        _attempt(
            session,
            lambda: integrations.update_integration(
                session,
                actor=principal.actor,
                cipher=cipher,
                integration_id=row_id,
                changes=changes,
            ),
        )
    except OkrError as exc:
        state = PageState(error=exc.message, error_for=str(row_id))
        return _integrations_page(request, session, principal, state, status_code=_status_for(exc))
    return _redirect("/admin/integrations", "saved", row_id)


def _simple_action(
    request: Request,
    session: Session,
    principal: Principal,
    integration_id: str,
    action: Callable[[uuid.UUID], object],
    notice: str,
) -> HTMLResponse | RedirectResponse:
    row_id = parse_id(integration_id, noun="integration")
    integrations.get_integration(session, row_id)
    try:
        _attempt(session, lambda: action(row_id))
    except OkrError as exc:
        state = PageState(error=exc.message, error_for=str(row_id))
        return _integrations_page(request, session, principal, state, status_code=_status_for(exc))
    return _redirect("/admin/integrations", notice, None if notice == "deleted" else row_id)


@router.post("/{integration_id}/sync", response_model=None)
def sync_now(
    request: Request, session: SessionDep, principal: PageAdmin, integration_id: str
) -> HTMLResponse | RedirectResponse:
    return _simple_action(
        request,
        session,
        principal,
        integration_id,
        lambda row_id: integrations.request_sync(
            session, actor=principal.actor, integration_id=row_id
        ),
        "synced",
    )


@router.post("/{integration_id}/pause", response_model=None)
def pause(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PageAdmin,
    integration_id: str,
) -> HTMLResponse | RedirectResponse:
    return _simple_action(
        request,
        session,
        principal,
        integration_id,
        lambda row_id: integrations.set_paused(
            session, actor=principal.actor, cipher=cipher, integration_id=row_id, paused=True
        ),
        "paused",
    )


@router.post("/{integration_id}/resume", response_model=None)
def resume(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PageAdmin,
    integration_id: str,
) -> HTMLResponse | RedirectResponse:
    return _simple_action(
        request,
        session,
        principal,
        integration_id,
        lambda row_id: integrations.set_paused(
            session, actor=principal.actor, cipher=cipher, integration_id=row_id, paused=False
        ),
        "resumed",
    )


@router.post("/{integration_id}/delete", response_model=None)
def disconnect(
    request: Request, session: SessionDep, principal: PageAdmin, integration_id: str
) -> HTMLResponse | RedirectResponse:
    return _simple_action(
        request,
        session,
        principal,
        integration_id,
        lambda row_id: integrations.delete_integration(
            session, actor=principal.actor, integration_id=row_id
        ),
        "deleted",
    )


@router.post("/{integration_id}/test", response_class=HTMLResponse)
def test(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PageAdmin,
    integration_id: str,
) -> HTMLResponse:
    row = integrations.get_integration(session, parse_id(integration_id, noun="integration"))
    result = test_connection(row, cipher)
    state = PageState(
        test_result={
            "integration_id": str(row.id),
            "name": row.name,
            "ok": result.ok,
            "account": result.account,
            "detail": result.detail,
            "error_class": result.error_class.value if result.error_class else None,
        }
    )
    return _integrations_page(request, session, principal, state)


@router.post("/{integration_id}/webhook-secret", response_class=HTMLResponse)
def rotate_webhook_secret(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PageAdmin,
    integration_id: str,
) -> HTMLResponse:
    row_id = parse_id(integration_id, noun="integration")
    issued = integrations.rotate_webhook_secret(
        session, actor=principal.actor, cipher=cipher, integration_id=row_id
    )
    row = issued.integration
    state = PageState(
        notice=f"A new webhook secret for {row.name} is active; the old one no longer works.",
        issued_secret={
            "integration": row.name,
            "url": webhook_url(request, row),
            "secret": issued.webhook_secret,
            "header": "X-Hub-Signature-256" if row.source is Source.github else "X-Hub-Signature",
        },
    )
    return _integrations_page(request, session, principal, state)


# --- bindings page --------------------------------------------------------------------------


@router.get("/bindings", response_class=HTMLResponse, name="admin_integration_bindings")
def bindings_page(
    request: Request,
    session: SessionDep,
    _principal: PageEditor,
    key_result: str | None = None,
) -> HTMLResponse:
    form = BindingForm()
    if key_result:
        kr_id = parse_id(key_result, noun="key result")
        binding = kr_bindings.get_binding(session, kr_id)
        form = _form_from_binding(binding) if binding else BindingForm(key_result_id=str(kr_id))
    return _bindings_page(request, session, form=form, notice=_notice(request, session))


def _preview_view(result: BindingPreview, key_result: KeyResult) -> PreviewView:
    value = result.value
    shown = "no value yet" if value is None or not math.isfinite(value) else number(value)
    return PreviewView(
        value=shown,
        record_count=result.record_count,
        query=result.query,
        records=[_record_view(record) for record in result.records[:PREVIEW_SAMPLE_SIZE]],
        unit=key_result.unit,
    )


def _record_view(record: dict[str, Any]) -> dict[str, Any]:
    """A sample record as the table shows it: readable times and measures."""
    view = dict(record)
    updated = record.get("updated_at")
    if isinstance(updated, str):
        with contextlib.suppress(ValueError):
            view["updated_at"] = when(datetime.fromisoformat(updated).astimezone(UTC))
    measure = record.get("measure")
    if isinstance(measure, int | float) and not isinstance(measure, bool):
        view["measure"] = number(float(measure)) if math.isfinite(measure) else None
    return view


@router.post("/bindings", response_model=None)
def bind(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PageEditor,
    action: Annotated[str, Form()] = "preview",
    key_result_id: Annotated[str, Form()] = "",
    integration_id: Annotated[str, Form()] = "",
    metric: Annotated[str, Form()] = "",
    jql: Annotated[str, Form()] = "",
    field: Annotated[str, Form()] = "",
    repositories: Annotated[str, Form()] = "",
    whole_history: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """``action=preview`` runs the binding once and shows the result; ``action=save`` stores it."""
    form = BindingForm(
        key_result_id=key_result_id,
        integration_id=integration_id,
        metric=metric,
        jql=jql,
        field=field,
        repositories=repositories,
        whole_history=bool(whole_history),
        description=description,
    )
    try:
        kr_id = _form_id(key_result_id, "key result")
        source_id = _form_id(integration_id, "integration")
        if action == "save":
            binding = _attempt(
                session,
                lambda: kr_bindings.set_binding(
                    session,
                    actor=principal.actor,
                    key_result_id=kr_id,
                    integration_id=source_id,
                    metric=metric,
                    parameters=form.parameters(),
                    whole_history=form.whole_history,
                    description=description,
                ),
            )
            return _redirect("/admin/integrations/bindings", "bound", binding.integration_id)
        checked = kr_bindings.validate_binding(
            session,
            key_result_id=kr_id,
            integration_id=source_id,
            metric=metric,
            parameters=form.parameters(),
            whole_history=form.whole_history,
            description=description,
        )
        try:
            result = preview_binding(
                session,
                integration=checked.integration,
                key_result=checked.key_result,
                metric=checked.metric,
                parameters=checked.parameters,
                whole_history=checked.whole_history,
                cipher=cipher,
                sample_size=PREVIEW_SAMPLE_SIZE,
            )
        except PermanentSourceError as exc:
            message = f"{checked.integration.name} refused the preview: {exc.message}"
            return _bindings_page(request, session, form=form, error=message, status_code=422)
        except TransientSourceError as exc:
            message = f"{checked.integration.name} is unavailable right now ({exc.message}); "
            message += "try the preview again in a moment."
            return _bindings_page(request, session, form=form, error=message, status_code=503)
    except OkrError as exc:
        return _bindings_page(
            request, session, form=form, error=exc.message, status_code=_status_for(exc)
        )
    preview = _preview_view(result, checked.key_result)
    return _bindings_page(request, session, form=form, preview=preview)


@router.post("/bindings/{key_result_id}/delete", response_model=None)
def unbind(
    request: Request, session: SessionDep, principal: PageEditor, key_result_id: str
) -> RedirectResponse:
    kr_id = parse_id(key_result_id, noun="key result")
    kr_bindings.delete_binding(session, actor=principal.actor, key_result_id=kr_id)
    return _redirect("/admin/integrations/bindings", "unbound")


def _form_id(raw: str, noun: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed(f"choose a {noun}") from None
