"""Bindings of key results to source metrics: one per key result, validated before it is saved.

A binding names an integration of the tenant, a metric of that integration's source
(``METRIC_SOURCE``) and the metric's parameters:

* Jira metrics take ``{"jql": "<non-empty JQL>"}``; ``jira_field_sum`` also ``"field"`` (the
  numeric field to add up, such as ``customfield_10016`` or ``Story Points``);
* GitHub metrics take ``{"repositories": ["owner/name", ...]}`` (1 to 50, duplicates dropped).

Unknown parameters are refused, so a typo never silently changes what a key result counts. The
metric counts only inside the key result's period unless ``whole_history`` is set. Saving or
changing a binding makes its integration's next sync due at once, so the key result starts moving
(and its history is backfilled from the landed records) within minutes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import audit
from okr_core.actors import Actor
from okr_core.errors import Conflict, NotFound, ValidationFailed
from okr_core.integrations import get_integration
from okr_core.models import Integration, KeyResult, KeyResultStatus, KrBinding, Metric
from okr_core.models.kr_binding import METRIC_SOURCE
from okr_core.repository import get_owned

REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
MAX_REPOSITORIES = 50
MAX_JQL_LENGTH = 4000
MAX_FIELD_LENGTH = 200
PARAMETERS: dict[Metric, tuple[str, ...]] = {
    Metric.jira_issue_count: ("jql",),
    Metric.jira_done_share: ("jql",),
    Metric.jira_field_sum: ("jql", "field"),
    Metric.github_merged_prs: ("repositories",),
    Metric.github_merge_rate: ("repositories",),
    Metric.github_median_hours_to_merge: ("repositories",),
}


@dataclass(frozen=True, slots=True)
class BindingRequest:
    """A validated binding, ready to preview or save."""

    key_result: KeyResult
    integration: Integration
    metric: Metric
    parameters: dict[str, Any]
    whole_history: bool
    description: str


def get_binding(session: Session, key_result_id: uuid.UUID) -> KrBinding | None:
    """The key result's binding, or None when it is not bound (404 when the KR is not ours)."""
    get_owned(session, KeyResult, key_result_id, noun="key result")
    stmt = select(KrBinding).where(KrBinding.key_result_id == key_result_id)
    return session.scalars(stmt).one_or_none()


def require_binding(session: Session, key_result_id: uuid.UUID) -> KrBinding:
    binding = get_binding(session, key_result_id)
    if binding is None:
        raise NotFound(
            f"key result {key_result_id} is not bound to a source metric",
            details={"resource": "binding"},
        )
    return binding


def validate_binding(
    session: Session,
    *,
    key_result_id: uuid.UUID,
    integration_id: uuid.UUID,
    metric: Metric | str,
    parameters: Mapping[str, Any],
    whole_history: bool = False,
    description: str = "",
) -> BindingRequest:
    """Check a binding without saving it (preview uses this too)."""
    key_result = get_owned(session, KeyResult, key_result_id, noun="key result")
    if key_result.status is KeyResultStatus.archived:
        raise Conflict(
            "the key result is archived; restore it before binding it to a source",
            details={"field": "key_result_id"},
        )
    try:
        integration = get_integration(session, integration_id)
    except NotFound:
        raise ValidationFailed(
            f"integration_id {integration_id} is not an integration of this organisation",
            details={"field": "integration_id"},
        ) from None
    parsed_metric = _check_metric(metric, integration)
    description = (description or "").strip()
    if len(description) > 500:
        raise ValidationFailed(
            "description must be at most 500 characters", details={"field": "description"}
        )
    return BindingRequest(
        key_result=key_result,
        integration=integration,
        metric=parsed_metric,
        parameters=clean_parameters(parsed_metric, parameters),
        whole_history=bool(whole_history),
        description=description,
    )


def set_binding(
    session: Session,
    *,
    actor: Actor,
    key_result_id: uuid.UUID,
    integration_id: uuid.UUID,
    metric: Metric | str,
    parameters: Mapping[str, Any],
    whole_history: bool = False,
    description: str = "",
    now: datetime | None = None,
) -> KrBinding:
    """Bind the key result, replacing its binding if it has one (one binding per key result)."""
    now = now or datetime.now(UTC)
    request = validate_binding(
        session,
        key_result_id=key_result_id,
        integration_id=integration_id,
        metric=metric,
        parameters=parameters,
        whole_history=whole_history,
        description=description,
    )
    binding = session.scalars(
        select(KrBinding).where(KrBinding.key_result_id == key_result_id)
    ).one_or_none()
    before = snapshot(binding) if binding is not None else None
    if binding is None:
        binding = KrBinding(key_result_id=key_result_id)
        session.add(binding)
    binding.integration_id = request.integration.id
    binding.metric = request.metric
    binding.parameters = request.parameters
    binding.whole_history = request.whole_history
    binding.description = request.description
    session.flush()
    after = snapshot(binding)
    if before is None:
        action, changes = "kr_binding.created", after
    else:
        action, changes = "kr_binding.updated", audit.diff(before, after)
    if changes:
        _make_due(request.integration, now=now)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action=action,
            target_type="key_result",
            target_id=key_result_id,
            changes=changes,
        )
    return binding


def delete_binding(session: Session, *, actor: Actor, key_result_id: uuid.UUID) -> None:
    """Unbind: the key result keeps its value and history and is moved by check-ins again."""
    binding = require_binding(session, key_result_id)
    details = snapshot(binding)
    session.delete(binding)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="kr_binding.deleted",
        target_type="key_result",
        target_id=key_result_id,
        changes=details,
    )


def snapshot(binding: KrBinding) -> dict[str, Any]:
    return {
        "integration_id": binding.integration_id,
        "metric": binding.metric,
        "parameters": dict(binding.parameters or {}),
        "whole_history": binding.whole_history,
        "description": binding.description,
    }


def clean_parameters(metric: Metric, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The metric's parameters, normalised; 422 naming the parameter when one is wrong."""
    if not isinstance(parameters, Mapping):
        raise ValidationFailed("parameters must be an object", details={"field": "parameters"})
    expected = PARAMETERS[metric]
    unknown = sorted(set(parameters) - set(expected))
    if unknown:
        raise ValidationFailed(
            f"{metric.value} takes only {', '.join(expected)}; remove {', '.join(unknown)}",
            details={"field": f"parameters.{unknown[0]}"},
        )
    cleaned: dict[str, Any] = {}
    if "jql" in expected:
        cleaned["jql"] = _text_parameter(parameters, "jql", MAX_JQL_LENGTH, "a JQL query")
    if "field" in expected:
        cleaned["field"] = _text_parameter(
            parameters, "field", MAX_FIELD_LENGTH, "the numeric field to sum, such as Story Points"
        )
    if "repositories" in expected:
        cleaned["repositories"] = _repositories(parameters.get("repositories"))
    return cleaned


def _check_metric(metric: Metric | str, integration: Integration) -> Metric:
    try:
        parsed = Metric(metric)
    except ValueError:
        raise ValidationFailed(
            f"metric must be one of {', '.join(m.value for m in Metric)}",
            details={"field": "metric"},
        ) from None
    source = METRIC_SOURCE[parsed]
    if source != integration.source.value:
        fitting = [m.value for m, s in METRIC_SOURCE.items() if s == integration.source.value]
        raise ValidationFailed(
            f"{parsed.value} is a {source} metric but '{integration.name}' is a "
            f"{integration.source.value} integration; choose one of {', '.join(fitting)}",
            details={"field": "metric"},
        )
    return parsed


def _text_parameter(parameters: Mapping[str, Any], name: str, limit: int, what: str) -> str:
    value = parameters.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationFailed(
            f"parameters.{name} must not be empty: give {what}",
            details={"field": f"parameters.{name}"},
        )
    if len(text) > limit:
        raise ValidationFailed(
            f"parameters.{name} must be at most {limit} characters",
            details={"field": f"parameters.{name}"},
        )
    return text


def _repositories(value: object) -> list[str]:
    field = "parameters.repositories"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValidationFailed(
            "parameters.repositories must list at least one repository as owner/name",
            details={"field": field},
        )
    cleaned: list[str] = []
    for item in value:
        text = item.strip() if isinstance(item, str) else ""
        if not REPOSITORY.match(text):
            shown = text if len(text) <= 120 else text[:120] + "..."
            raise ValidationFailed(
                f"'{shown}' is not a repository: write it as owner/name, such as octo-org/api",
                details={"field": field},
            )
        if text.lower() not in (seen.lower() for seen in cleaned):
            cleaned.append(text)
    if len(cleaned) > MAX_REPOSITORIES:
        raise ValidationFailed(
            f"parameters.repositories may list at most {MAX_REPOSITORIES} repositories",
            details={"field": field},
        )
    return cleaned


def _make_due(integration: Integration, *, now: datetime) -> None:
    if not integration.is_paused and (
        integration.next_sync_at is None or integration.next_sync_at > now
    ):
        integration.next_sync_at = now
