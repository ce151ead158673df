"""A small typed client for the OKR Enterprise Hub public API (v1), on httpx.

- authenticates with an API key (``Authorization: Bearer okr_live_...``);
- iterates over every page of a list by following ``next_cursor``;
- backs off on 429 for as long as ``Retry-After`` says (with a little jitter), then retries;
- warns when the server marks something as deprecated (``Deprecation`` / ``Sunset`` headers);
- keeps an ``updated_since`` watermark for incremental syncs.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import httpx

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class Objective(TypedDict):
    id: str
    title: str
    description: str
    owner_id: str | None
    period: str
    period_start: str
    period_end: str
    parent_id: str | None
    status: str
    created_at: str
    updated_at: str


class KeyResult(TypedDict):
    id: str
    objective_id: str
    title: str
    owner_id: str | None
    unit: str
    direction: str
    start_value: float
    target_value: float
    current_value: float
    status: str
    progress: float
    health: str
    created_at: str
    updated_at: str


class CheckIn(TypedDict):
    id: str
    key_result_id: str
    value: float
    checked_at: str
    source: str
    source_ref: str | None
    note: str
    author_id: str | None
    created_at: str


class ApiError(Exception):
    """A problem-details answer (4xx/5xx) from the API."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('code')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class OkrHubClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_retries: int = 8,
        timeout: float = 30.0,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "okr-hub-python-example"},
            timeout=timeout,
        )
        self.max_retries = max_retries
        self.retries_after_429 = 0
        self.pages_fetched = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OkrHubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET a JSON document, retrying 429s after Retry-After seconds."""
        for attempt in range(self.max_retries + 1):
            response = self._http.get(path, params=params)
            if "Deprecation" in response.headers:
                warnings.warn(
                    f"{path} uses a deprecated part of the API (sunset "
                    f"{response.headers.get('Sunset')}); see {response.headers.get('Link')}",
                    DeprecationWarning,
                    stacklevel=2,
                )
            if response.status_code == 429 and attempt < self.max_retries:
                self.retries_after_429 += 1
                delay = float(response.headers.get("Retry-After", "1"))
                time.sleep(delay + random.uniform(0, 0.25))  # noqa: S311 - jitter, not crypto
                continue
            if response.status_code >= 400:
                raise ApiError(response.status_code, response.json())
            self.pages_fetched += 1
            data: dict[str, Any] = response.json()
            return data
        raise AssertionError("unreachable")

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every row of a list, page after page."""
        query = dict(params or {})
        while True:
            page = self.get(path, query)
            yield from page["data"]
            if not page["has_more"]:
                return
            query["cursor"] = page["next_cursor"]

    def objectives(self, **filters: Any) -> Iterator[Objective]:
        return self.paginate("/api/v1/public/objectives", filters)

    def key_results(self, **filters: Any) -> Iterator[KeyResult]:
        return self.paginate("/api/v1/public/key-results", filters)

    def check_ins(self, key_result_id: str, **filters: Any) -> Iterator[CheckIn]:
        return self.paginate(f"/api/v1/public/key-results/{key_result_id}/check-ins", filters)


def sync_key_results(
    client: OkrHubClient, state_file: Path, *, page_size: int = 100
) -> list[KeyResult]:
    """Key results changed since the last sync (all of them the first time).

    The watermark is the start time of the previous sync minus a small overlap, so a change
    committed while that sync ran is picked up again rather than missed; consumers upsert by id.
    """
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    started = datetime.now(UTC)
    filters: dict[str, Any] = {"limit": page_size, "sort": "updated_at"}
    if "updated_since" in state:
        filters["updated_since"] = state["updated_since"]
    changed = list(client.key_results(**filters))
    watermark = started - timedelta(seconds=5)
    state_file.write_text(json.dumps({"updated_since": watermark.isoformat()}))
    return changed
