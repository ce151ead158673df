"""Request and response schemas of /api/v1 integrations, their status and KR bindings.

Credentials are write-only: ``secret`` exists on ``IntegrationCreate`` and ``IntegrationUpdate``
(typed ``SecretStr``, so it never shows in a repr or a log line) and on no ``*Read`` schema. The
webhook secret appears exactly once, in the answer that issues it (``IntegrationCreated``,
``WebhookSecretIssued``). Request bodies refuse unknown fields; /v1 schemas are frozen once
published (add optional fields, never rename or remove).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from okr_core.integration_status import IntegrationStatus
from okr_core.models import (
    AuthKind,
    ErrorClass,
    Integration,
    KrBinding,
    Metric,
    Source,
    SyncTrigger,
)
from okr_core.models.integration import (
    DEFAULT_SYNC_INTERVAL_MINUTES,
    MAX_SYNC_INTERVAL_MINUTES,
    MIN_SYNC_INTERVAL_MINUTES,
)

ItemT = TypeVar("ItemT", bound=BaseModel)

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="1 to 200 characters, unique per source in your organisation."),
]
BaseUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    Field(
        description=(
            "The API root: https://<site>.atlassian.net (or https://api.atlassian.com/ex/jira/"
            "<cloudId> for OAuth), https://api.github.com, or a sandbox URL."
        ),
        examples=["https://acme.atlassian.net", "https://api.github.com"],
    ),
]
Account = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320),
    Field(
        description=(
            "Not secret: the email the Jira API token belongs to (required for api_token), or "
            "the GitHub account or organisation."
        )
    ),
]
Secret = Annotated[
    SecretStr,
    Field(
        description=(
            "Write-only: the Jira API token or OAuth access token, or the GitHub token or App "
            "installation token. Encrypted at rest, never returned."
        ),
        min_length=1,
        max_length=4096,
        json_schema_extra={"writeOnly": True},
    ),
]
Interval = Annotated[
    int,
    Field(
        ge=MIN_SYNC_INTERVAL_MINUTES,
        le=MAX_SYNC_INTERVAL_MINUTES,
        description="Minutes between scheduled syncs: 5 to 1440 (24 hours).",
    ),
]

_PROBLEM_DESCRIPTIONS = {
    401: "Not signed in (webhooks: missing or wrong signature).",
    403: "Signed in, but the role is not enough (or the CSRF token is missing on a write).",
    404: "No such resource in your organisation (other organisations' ids answer the same).",
    409: "Conflicts with the current state, such as a duplicate name or a paused integration.",
    413: "The body is too large.",
    422: "The request is not valid; `errors` names each offending field.",
    503: "The source is unavailable for now; retry after `Retry-After` seconds.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer, all problem+json."""
    return {
        status: {
            "description": _PROBLEM_DESCRIPTIONS[status],
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }


class ConnectableSource(StrEnum):
    """The sources that can be connected today."""

    jira = "jira"
    github = "github"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class Page(BaseModel, Generic[ItemT]):
    """A list envelope, so metadata can be added later without breaking /v1."""

    data: list[ItemT]


# --- integrations ---------------------------------------------------------------------------


class IntegrationCreate(_Body):
    source: ConnectableSource
    name: Name
    base_url: BaseUrl
    auth_kind: AuthKind = Field(
        description="jira: api_token or oauth_token; github: token or app_installation."
    )
    account: Account = ""
    secret: Secret
    sync_interval_minutes: Interval = DEFAULT_SYNC_INTERVAL_MINUTES
    is_paused: bool = False


class IntegrationUpdate(_Body):
    """Omit a field to keep it. ``secret`` replaces the stored credentials."""

    name: Name | None = None
    base_url: BaseUrl | None = None
    auth_kind: AuthKind | None = None
    account: Account | None = None
    secret: Secret | None = None
    sync_interval_minutes: Interval | None = None
    is_paused: bool | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    def changes(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.model_fields_set}
        if isinstance(values.get("secret"), SecretStr):
            values["secret"] = values["secret"].get_secret_value()
        return values


class IntegrationRead(_Read):
    id: uuid.UUID
    source: Source
    name: str
    base_url: str
    auth_kind: AuthKind
    account: str
    credentials_set: bool = Field(
        description="Credentials are stored (encrypted). They are never returned."
    )
    sync_interval_minutes: int
    is_paused: bool
    next_sync_at: datetime | None = Field(description="null while paused.")
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    webhook_url: str = Field(description="Where the vendor should send signed deliveries.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Integration, *, webhook_url: str) -> IntegrationRead:
        return cls(
            id=row.id,
            source=row.source,
            name=row.name,
            base_url=row.base_url,
            auth_kind=row.auth_kind,
            account=row.account,
            credentials_set=bool(row.credentials_ciphertext),
            sync_interval_minutes=row.sync_interval_minutes,
            is_paused=row.is_paused,
            next_sync_at=row.next_sync_at,
            last_attempt_at=row.last_attempt_at,
            last_success_at=row.last_success_at,
            webhook_url=webhook_url,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class WebhookSecretIssued(_Read):
    """Shown once: configure the vendor's webhook with this URL and secret now."""

    webhook_url: str
    webhook_secret: str = Field(
        description="Shown only in this answer; rotate it to get a new one."
    )
    signature_header: str = Field(
        description="The header the vendor signs with: X-Hub-Signature-256 (GitHub) or "
        "X-Hub-Signature (Jira Cloud admin webhooks), sha256=<hex HMAC of the body>."
    )


class IntegrationCreated(IntegrationRead):
    webhook: WebhookSecretIssued


class ConnectionTestRead(_Read):
    ok: bool
    account: str = Field(description="Who the credentials authenticate as (never the secret).")
    detail: str = Field(description="What happened, and when it failed, what to fix.")
    error_class: ErrorClass | None = Field(
        default=None, description="transient (try again later) or permanent (fix the settings)."
    )


class LastErrorRead(_Read):
    error_class: ErrorClass | None
    message: str
    occurred_at: datetime


class IntegrationStatusRead(_Read):
    integration_id: uuid.UUID
    source: Source
    name: str
    is_paused: bool
    sync_interval_minutes: int
    last_attempt_at: datetime | None = Field(description="When the latest sync run started.")
    last_trigger: SyncTrigger | None = Field(
        default=None,
        description=(
            'What started the latest sync run: schedule, webhook, manual ("Sync now") or '
            "backfill; null before the first run."
        ),
    )
    last_success_at: datetime | None = Field(
        description="When the latest successful sync run finished."
    )
    next_sync_at: datetime | None = Field(description="The next scheduled sync; null if paused.")
    sync_requested_at: datetime | None = Field(
        default=None,
        description='"Sync now" was requested at this time and that sync has not started yet.',
    )
    running: bool = Field(description="A sync run is in progress.")
    success_rate_24h: float | None = Field(
        description="Succeeded / finished runs started in the last 24 hours (0 to 1); null "
        "when none finished."
    )
    success_rate_7d: float | None = Field(description="The same over the last 7 days.")
    runs_24h: int = Field(description="Finished runs in the last 24 hours.")
    runs_7d: int = Field(description="Finished runs in the last 7 days.")
    last_error: LastErrorRead | None = Field(description="The latest failed run, if any.")
    healthy: bool = Field(description="No failure since the last success.")

    @classmethod
    def of(cls, status: IntegrationStatus) -> IntegrationStatusRead:
        error = status.last_error
        return cls(
            integration_id=status.integration_id,
            source=status.source,
            name=status.name,
            is_paused=status.is_paused,
            sync_interval_minutes=status.sync_interval_minutes,
            last_attempt_at=status.last_attempt_at,
            last_trigger=status.last_trigger,
            last_success_at=status.last_success_at,
            next_sync_at=status.next_sync_at,
            sync_requested_at=status.sync_requested_at,
            running=status.running,
            success_rate_24h=status.success_24h.rate,
            success_rate_7d=status.success_7d.rate,
            runs_24h=status.success_24h.finished,
            runs_7d=status.success_7d.finished,
            last_error=None
            if error is None
            else LastErrorRead(
                error_class=error.error_class,
                message=error.message,
                occurred_at=error.occurred_at,
            ),
            healthy=status.healthy,
        )


# --- KR bindings ----------------------------------------------------------------------------


class BindingWrite(_Body):
    """The binding of a key result (PUT creates or replaces it; preview runs it once)."""

    integration_id: uuid.UUID
    metric: Metric = Field(
        description="jira_issue_count, jira_done_share (0-100 %), jira_field_sum; "
        "github_merged_prs, github_merge_rate (0-100 %), github_median_hours_to_merge."
    )
    parameters: dict[str, Any] = Field(
        description='Jira: {"jql": "..."} (jira_field_sum also {"field": "Story Points"}); '
        'GitHub: {"repositories": ["owner/name", ...]}.',
        examples=[{"jql": "project = OPS"}, {"repositories": ["acme/api"]}],
    )
    whole_history: bool = Field(
        default=False,
        description="Count records outside the key result's period too (default: only inside).",
    )
    description: Annotated[str, StringConstraints(max_length=500)] = ""


class LineageRead(_Read):
    """Where an automated check-in's value came from."""

    check_in_id: uuid.UUID
    value: float
    checked_at: datetime
    binding_id: str | None = Field(default=None, description="The binding that computed it.")
    metric: str | None = None
    query: str | None = Field(
        default=None, description="The JQL or the repositories, as the sync ran them."
    )
    record_count: int | None = Field(default=None, description="How many records counted.")
    record_set_hash: str | None = Field(
        default=None, description="A hash of the counted records' ids and update times."
    )
    computed_at: datetime | None = Field(default=None, description="When the sync computed it.")
    source_ref: str | None = Field(description="The raw lineage record, as the sync wrote it.")
    note: str = ""


class BindingRead(_Read):
    id: uuid.UUID
    key_result_id: uuid.UUID
    integration_id: uuid.UUID
    integration_name: str
    source: Source
    metric: Metric
    parameters: dict[str, Any]
    whole_history: bool
    description: str
    created_at: datetime
    updated_at: datetime
    lineage: list[LineageRead] = Field(
        description="The latest automated check-ins of this key result, newest first."
    )

    @classmethod
    def of(
        cls, row: KrBinding, *, integration: Integration, lineage: list[LineageRead]
    ) -> BindingRead:
        return cls(
            id=row.id,
            key_result_id=row.key_result_id,
            integration_id=row.integration_id,
            integration_name=integration.name,
            source=integration.source,
            metric=row.metric,
            parameters=dict(row.parameters or {}),
            whole_history=row.whole_history,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
            lineage=lineage,
        )


class BindingPreviewRead(_Read):
    metric: Metric
    value: FiniteFloat | None = Field(description="What the key result's value would be now.")
    record_count: int = Field(description="How many records match.")
    records: list[dict[str, Any]] = Field(description="A sample of the matching records.")
    query: str = Field(description="The query the binding runs, as sent to the source.")
