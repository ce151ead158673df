"""GitHub connector on PyGithub, configured by base URL only.

``Github(base_url=..., auth=Auth.Token(token), per_page=100, retry=None,
seconds_between_requests=None, seconds_between_writes=None, lazy=True)``: PyGithub's own retry
(``GithubRetry``, up to 10 tries and hour-long rate-limit sleeps) and its client-side pacing are
off, so :class:`~okr_core.sources.retry.Retrier` is the one retry layer. ``lazy=True`` skips the
``GET /repos/{o}/{r}`` that ``get_repo`` would otherwise make.

Pull requests are listed ``sort=updated&direction=desc`` page by page (``get_page``, one request
per call, so a fault repeats one page); an incremental sync stops at the first pull request
older than the watermark.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import requests
from github import Auth, Github, GithubException

from okr_core.sources.base import ConnectionCheck, ExtractBatch
from okr_core.sources.errors import PermanentSourceError, SourceError, TransientSourceError
from okr_core.sources.github.records import ListedPullRequest, pull_request_record
from okr_core.sources.http import DEFAULT_TIMEOUT, header, parse_retry_after, safe_url
from okr_core.sources.retry import Retrier

T = TypeVar("T")
log = logging.getLogger(__name__)

PAGE_SIZE = 100
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def normalise_repositories(values: Sequence[str] | str) -> list[str]:
    """``owner/name`` strings, lower-cased, de-duplicated, in order; invalid ones fail."""
    items = [values] if isinstance(values, str) else list(values)
    result: list[str] = []
    for item in items:
        name = str(item).strip().removeprefix("https://github.com/").strip("/").lower()
        if not REPOSITORY.match(name):
            raise PermanentSourceError(
                f"{str(item)[:100]!r} is not a repository; write it as owner/name"
            )
        if name not in result:
            result.append(name)
    return result


class GitHubConnector:
    """One GitHub account or organisation, as one integration's token sees it."""

    source = "github"

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        account: str = "",
        installation: bool = False,
        integration_id: str = "",
        retrier: Retrier | None = None,
        timeout: float = DEFAULT_TIMEOUT[1],
        page_size: int = PAGE_SIZE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not token:
            raise PermanentSourceError("the GitHub integration needs a token")
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.installation = installation
        self.integration_id = integration_id
        self.retrier = retrier or Retrier()
        self.page_size = page_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._github = Github(
            base_url=self.base_url,
            auth=Auth.Token(token),
            per_page=page_size,
            timeout=int(timeout),
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        self.requests_made = 0

    @property
    def where(self) -> str:
        return safe_url(self.base_url)

    def close(self) -> None:
        self._github.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _guard(self, what: str, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            self.requests_made += 1
            try:
                return fn()
            except GithubException as exc:
                raise self._map_error(exc, what) from None
            except requests.exceptions.Timeout:
                raise TransientSourceError(
                    f"GitHub at {self.where} did not answer in time ({what})"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise TransientSourceError(
                    f"could not reach GitHub at {self.where} ({what}): {type(exc).__name__}"
                ) from None

        return self.retrier.call(f"github {what}", attempt)

    def _map_error(self, exc: GithubException, what: str) -> SourceError:
        status = exc.status
        headers = cast(dict[str, Any] | None, exc.headers)
        message = str(exc.message or "")
        if isinstance(exc.data, dict):
            message = message or str(exc.data.get("message") or "")
        remaining = header(headers, "x-ratelimit-remaining")
        limited = status == 429 or (
            status == 403 and (remaining == "0" or "rate limit" in message.lower())
        )
        if limited:
            retry_after = parse_retry_after(header(headers, "Retry-After"))
            reset = header(headers, "x-ratelimit-reset")
            if retry_after is None and remaining == "0" and reset and reset.isdigit():
                retry_after = max(0.0, int(reset) - time.time() + 1)
            if retry_after is None and "secondary rate limit" in message.lower():
                retry_after = 60.0
            return TransientSourceError(
                f"GitHub rate limit reached ({what}, HTTP {status})",
                status=status,
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            return TransientSourceError(
                f"GitHub answered {status} (a server error) to {what}",
                status=status,
                retry_after=parse_retry_after(header(headers, "Retry-After")),
            )
        if status == 401:
            return PermanentSourceError(
                "GitHub refused the token (HTTP 401): it is wrong, expired or revoked. "
                "Create a new token (or installation token) and enter it again.",
                status=401,
            )
        if status == 403:
            return PermanentSourceError(
                f"GitHub denied access to {what} (HTTP 403): the token lacks the "
                "'Pull requests: read' permission for it, or the organisation blocks the token.",
                status=403,
            )
        if status == 404:
            return PermanentSourceError(
                f"GitHub found no {what} (HTTP 404): check the name, and that the token can "
                "see private repositories of the organisation.",
                status=404,
            )
        return PermanentSourceError(f"GitHub answered {status} to {what}.", status=status)

    # -- the SourceConnector protocol -----------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        """Who the token is: the user for personal tokens; for a GitHub App installation
        token (which cannot read ``/user``) the installation's repositories."""
        if self.installation:
            requester = self._github.requester
            _, data = self._guard(
                "the installation's repositories",
                lambda: requester.requestJsonAndCheck(
                    "GET", "/installation/repositories", parameters={"per_page": 1}
                ),
            )
            total = int(data.get("total_count", 0)) if isinstance(data, dict) else 0
            return ConnectionCheck(
                ok=True,
                account=self.account or "GitHub App installation",
                detail=f"GitHub at {self.where}: the installation sees {total} repositories",
            )
        user = self._github.get_user()
        login = self._guard("the authenticated user", lambda: user.login)
        return ConnectionCheck(ok=True, account=str(login), detail=f"GitHub at {self.where}")

    def extract(
        self, *, updated_since: datetime | None, scope: dict[str, Any]
    ) -> Iterator[ExtractBatch]:
        """Pull requests of ``scope["repositories"]`` updated since ``updated_since``."""
        for repository in normalise_repositories(scope.get("repositories") or []):
            yield from self.pull_requests(repository, updated_since=updated_since)

    def pull_requests(
        self, repository: str, *, updated_since: datetime | None
    ) -> Iterator[ExtractBatch]:
        repo = self._github.get_repo(repository)  # lazy client: no request
        listing = repo.get_pulls(state="all", sort="updated", direction="desc")
        what = f"repository {repository}"
        page_number = 0
        while True:
            page = self._guard(what, lambda n=page_number: listing.get_page(n))  # type: ignore[misc]
            landed_at = self._clock()
            records: list[dict[str, Any]] = []
            reached_old = False
            for pr in page:
                record = pull_request_record(
                    cast(ListedPullRequest, pr),
                    integration_id=self.integration_id,
                    repository=repository,
                    landed_at=landed_at,
                )
                if (
                    updated_since is not None
                    and record["updated_at"] is not None
                    and record["updated_at"] < updated_since
                ):
                    reached_old = True
                    break
                records.append(record)
            updated = [r["updated_at"] for r in records if r["updated_at"] is not None]
            yield ExtractBatch(
                records=records,
                max_updated_at=max(updated) if updated else None,
                requests_made=1,
                extra={"repository": repository},
            )
            if reached_old or len(page) < self.page_size:
                return
            page_number += 1
