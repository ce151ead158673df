"""Request and response schemas of /api/v1 objectives, key results and check-ins.

Families with fixed suffixes: ``*Create`` (POST bodies), ``*Update`` (PATCH bodies: every field
optional, applied with ``exclude_unset`` so an omitted field stays as it is), ``*Read`` (what the
API returns; ORM rows are mapped to these before they leave a route). Request bodies refuse
unknown fields, so a typo is a 422 instead of a silently ignored change. Once published, /v1
schemas are frozen: add optional fields, never rename or remove.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.config import JsonDict

from okr_core.key_results import KeyResultState
from okr_core.models import (
    CheckIn,
    CheckInSource,
    Direction,
    KeyResult,
    KeyResultStatus,
    ObjectiveStatus,
)
from okr_core.progress import Health

PERIOD_PATTERN = r"^\d{4}-Q[1-4]$"

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    Field(description="1 to 300 characters; surrounding whitespace is trimmed."),
]
Period = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=PERIOD_PATTERN),
    Field(description="A quarter such as 2026-Q4.", examples=["2026-Q4"]),
]
Description = Annotated[str, StringConstraints(max_length=10_000)]
Note = Annotated[str, StringConstraints(max_length=5_000)]
Unit = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=32),
    Field(description="What the values count, such as % or kEUR; at most 32 characters."),
]
Value = Annotated[FiniteFloat, Field(description="A finite number (NaN and infinity are refused).")]

ItemT = TypeVar("ItemT", bound=BaseModel)


class _Body(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def _document_non_nullable(schema: JsonDict, model: type[Any]) -> None:
    """PATCH fields are typed ``X | None`` only so they can be omitted: document them as ``X``."""
    nullable: frozenset[str] = getattr(model, "NULLABLE", frozenset())
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, prop in properties.items():
        if name in nullable or not isinstance(prop, dict):
            continue
        options = prop.pop("anyOf", None)
        if isinstance(options, list):
            (kept,) = [option for option in options if option != {"type": "null"}]
            if isinstance(kept, dict):
                prop.update(kept)
        prop.pop("default", None)


class _Patch(_Body):
    """Base of PATCH bodies: omit a field to keep it; only ``NULLABLE`` fields accept null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_non_nullable)
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("may be omitted but not null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the caller actually sent, ready for the core ``update_*`` services."""
        return self.model_dump(exclude_unset=True)


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class Page(BaseModel, Generic[ItemT]):
    """A list envelope, so metadata (such as paging) can be added later without breaking /v1."""

    data: list[ItemT]


class Problem(BaseModel):
    """Documents the RFC 9457 body every error answers with (see ``okr_api.errors``)."""

    type: str = Field(examples=["urn:okr-hub:error:not_found"])
    title: str
    status: int
    code: str = Field(description="Stable machine-readable error code.")
    detail: str
    errors: list[dict[str, str]] | None = Field(
        default=None, description="For validation errors: the offending fields and why."
    )


_PROBLEM_DESCRIPTIONS = {
    401: "Not signed in.",
    403: "Signed in, but the role is not enough (or the CSRF token is missing on a write).",
    404: "No such resource in your organisation (other organisations' ids answer the same).",
    409: "Conflicts with an existing resource, such as a duplicate title.",
    422: "The request is not valid; `errors` names each offending field.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer, all as problem+json."""
    return {
        status: {
            "description": _PROBLEM_DESCRIPTIONS[status],
            "content": {"application/problem+json": {"schema": Problem.model_json_schema()}},
        }
        for status in statuses
    }


# --- objectives -----------------------------------------------------------------------------


class ObjectiveCreate(_Body):
    title: Title
    period: Period
    description: Description = ""
    owner_id: uuid.UUID | None = Field(default=None, description="A user of your organisation.")
    parent_id: uuid.UUID | None = Field(
        default=None, description="The objective this one aligns to (same organisation)."
    )


class ObjectiveUpdate(_Patch):
    NULLABLE = frozenset({"owner_id", "parent_id"})

    title: Title | None = None
    period: Period | None = None
    description: Description | None = None
    owner_id: uuid.UUID | None = Field(default=None, description="null removes the owner.")
    parent_id: uuid.UUID | None = Field(default=None, description="null removes the alignment.")
    status: Literal["active", "completed"] | None = Field(
        default=None,
        description="Mark completed, or set active to restore an archived objective. "
        "Archive with POST /objectives/{objective_id}/archive.",
    )


class ObjectiveRead(_Read):
    id: uuid.UUID
    title: str
    description: str
    owner_id: uuid.UUID | None
    period: str
    period_start: date
    period_end: date
    parent_id: uuid.UUID | None
    status: ObjectiveStatus
    created_at: datetime
    updated_at: datetime


# --- key results ----------------------------------------------------------------------------


class KeyResultCreate(_Body):
    objective_id: uuid.UUID
    title: Title
    start_value: Value
    target_value: Value = Field(description="Must differ from start_value.")
    unit: Unit = ""
    direction: Direction | None = Field(
        default=None,
        description="Defaults to increase when target_value is above start_value, else decrease.",
    )
    owner_id: uuid.UUID | None = None


class KeyResultUpdate(_Patch):
    NULLABLE = frozenset({"owner_id"})

    title: Title | None = None
    owner_id: uuid.UUID | None = Field(default=None, description="null removes the owner.")
    unit: Unit | None = None
    direction: Direction | None = None
    start_value: Value | None = None
    target_value: Value | None = None
    status: Literal["active"] | None = Field(
        default=None,
        description="Set active to restore an archived key result. "
        "Archive with POST /key-results/{key_result_id}/archive.",
    )


class KeyResultRead(_Read):
    id: uuid.UUID
    objective_id: uuid.UUID
    title: str
    owner_id: uuid.UUID | None
    unit: str
    direction: Direction
    start_value: float
    target_value: float
    current_value: float = Field(description="The value of the latest non-archived check-in.")
    status: KeyResultStatus
    progress: float = Field(ge=0, le=1, description="Share of the way from start to target.")
    health: Health = Field(description="Progress compared with how much of the period has gone.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, kr: KeyResult, state: KeyResultState) -> KeyResultRead:
        """Map a row plus its derived state (from ``okr_core.key_results.state_of``)."""
        return cls(
            id=kr.id,
            objective_id=kr.objective_id,
            title=kr.title,
            owner_id=kr.owner_id,
            unit=kr.unit,
            direction=kr.direction,
            start_value=kr.start_value,
            target_value=kr.target_value,
            current_value=kr.current_value,
            status=kr.status,
            progress=state.progress,
            health=state.health,
            created_at=kr.created_at,
            updated_at=kr.updated_at,
        )


# --- check-ins ------------------------------------------------------------------------------


class CheckInCreate(_Body):
    value: Value
    note: Note = ""
    checked_at: AwareDatetime | None = Field(
        default=None, description="When the value was observed; now when omitted. Not future."
    )


class CheckInUpdate(_Patch):
    value: Value | None = None
    note: Note | None = None
    checked_at: AwareDatetime | None = None


class CheckInRead(_Read):
    id: uuid.UUID
    key_result_id: uuid.UUID
    value: float
    checked_at: datetime
    author_id: uuid.UUID | None
    source: CheckInSource
    source_ref: str | None
    note: str
    created_at: datetime
    archived_at: datetime | None

    @classmethod
    def of(cls, check_in: CheckIn) -> CheckInRead:
        return cls.model_validate(check_in)
