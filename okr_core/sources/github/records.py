"""GitHub record shapes: what a listed pull request becomes when it lands in the warehouse.

Only attributes present in the list payload are read (never ``merged``, which would cost one
extra request per pull request: ``merged_at is not None`` says the same).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

PULL_REQUEST_SCHEMA = pa.schema(
    [
        pa.field("integration_id", pa.string(), nullable=False),
        pa.field("pull_request_id", pa.string(), nullable=False),
        pa.field("repository", pa.string(), nullable=False),
        pa.field("number", pa.int64()),
        pa.field("title", pa.string()),
        pa.field("state", pa.string()),
        pa.field("author_login", pa.string()),
        pa.field("is_draft", pa.bool_()),
        pa.field("base_ref", pa.string()),
        pa.field("created_at", TIMESTAMP),
        pa.field("updated_at", TIMESTAMP),
        pa.field("closed_at", TIMESTAMP),
        pa.field("merged_at", TIMESTAMP),
        pa.field("html_url", pa.string()),
        pa.field("landed_at", TIMESTAMP),
    ]
)


class _User(Protocol):
    login: str


class _Ref(Protocol):
    ref: str


class ListedPullRequest(Protocol):
    """The attributes of PyGithub's ``PullRequest`` that a list payload carries."""

    id: int
    number: int
    title: str
    state: str
    user: _User
    draft: bool | None
    base: _Ref
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_at: datetime | None
    html_url: str


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pull_request_record(
    pr: ListedPullRequest, *, integration_id: str, repository: str, landed_at: datetime
) -> dict[str, Any]:
    return {
        "integration_id": integration_id,
        "pull_request_id": str(pr.id),
        "repository": repository.lower(),
        "number": int(pr.number),
        "title": pr.title,
        "state": pr.state,
        "author_login": pr.user.login if pr.user is not None else None,
        "is_draft": bool(pr.draft) if pr.draft is not None else None,
        "base_ref": pr.base.ref if pr.base is not None else None,
        "created_at": _utc(pr.created_at),
        "updated_at": _utc(pr.updated_at),
        "closed_at": _utc(pr.closed_at),
        "merged_at": _utc(pr.merged_at),
        "html_url": pr.html_url,
        "landed_at": landed_at,
    }
