"""The GitHub sandbox: the REST subset PyGithub and the connector use.

Site base URL: ``{server}/{site}/api/v3`` (the layout of GitHub Enterprise Server, which PyGithub
accepts as ``base_url``). Every ``url`` in a response is built from the request's own scheme,
host, port and prefix, because PyGithub refuses to follow any other. Under the base URL:

- ``GET /user``, ``/user/repos``, ``/users/{login}``, ``/users/{login}/repos``, ``/orgs/{org}``,
  ``/orgs/{org}/repos``, ``/installation/repositories``
- ``GET /repos/{owner}/{repo}``; 404 ``Not Found`` for any other repository
- ``GET /repos/{owner}/{repo}/pulls?state=&sort=&direction=&base=&per_page=&page=`` with
  ``Link: <...>; rel="next", <...>; rel="last"`` (list items carry ``merged_at``, no ``merged``)
- ``GET /repos/{owner}/{repo}/pulls/{number}`` (with ``merged``)
- ``GET /search/issues?q=repo:o/r is:pr is:merged merged:>=YYYY-MM-DD`` and the other common
  qualifiers; charged to the ``search`` budget (30 a minute)
- ``GET /rate_limit`` (free)

Auth: ``Authorization: token <t>`` or ``Bearer <t>`` with the site's personal token (``ghp_``)
or installation token (``ghs_``), or Basic with the token as password. Wrong tokens answer 401
``Bad credentials``. Every response carries ``x-ratelimit-limit/-remaining/-used/-reset/
-resource``; an exhausted budget answers 403 ``API rate limit exceeded``. Webhooks:
``pull_request`` events signed ``X-Hub-Signature-256: sha256=<HMAC>`` with ``X-GitHub-Delivery``,
``X-GitHub-Event`` and ``X-GitHub-Hook-ID``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from okr_sandboxes.base import (
    AdminError,
    SandboxApp,
    Site,
    derive_secret,
    dumps,
    json_response,
    read_json,
)
from okr_sandboxes.faults import Fault, FaultConfig
from okr_sandboxes.github.data import Account, GitHubData, Pull, PullChange, Repo, gh_time
from okr_sandboxes.webhooks import WebhookRegistration, signature

PREFIX = "/{site}/api/v3"
DOCS = "https://docs.github.com/rest"
CANNOT_SEARCH = (
    "The listed users and repositories cannot be searched either because the resources do not "
    "exist or you do not have permission to view them."
)


@dataclass(frozen=True)
class GitHubSiteConfig:
    """One GitHub sandbox tenant. Tokens default to values derived from name and seed."""

    name: str
    seed: str
    owner: str = "acme"
    repos: tuple[str, ...] = ("api", "web")
    pulls: int = 60
    anchor: datetime | None = None
    history_days: int = 120
    token: str | None = None
    installation_token: str | None = None
    rate_limit: int = 5000
    search_rate_limit: int = 30
    activity_tick: float | None = None
    faults: FaultConfig | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GitHubSiteConfig:
        values = dict(data)
        if "name" not in values:
            raise ValueError("name is required")
        values.setdefault("seed", values["name"])
        if "repos" in values:
            values["repos"] = tuple(values["repos"])
        if values.get("anchor"):
            values["anchor"] = datetime.fromisoformat(values["anchor"]).astimezone(UTC)
        if values.get("faults") is not None:
            values["faults"] = FaultConfig.from_json(values["faults"])
        return cls(**values)


class Budget:
    """A fixed-window rate limit like GitHub's: ``limit`` requests until ``reset`` (epoch s)."""

    def __init__(self, name: str, limit: int, window: int) -> None:
        self.name, self.limit, self.window = name, limit, window
        self.used = 0
        self.reset = int(time.time()) + window

    def _roll(self) -> None:
        now = int(time.time())
        if now >= self.reset:
            self.used = 0
            self.reset = now + self.window

    def take(self) -> bool:
        self._roll()
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def to_json(self) -> dict[str, int]:
        self._roll()
        remaining = max(0, self.limit - self.used)
        return {"limit": self.limit, "used": self.used, "remaining": remaining, "reset": self.reset}

    def headers(self) -> dict[str, str]:
        data = self.to_json()
        return {
            "x-ratelimit-limit": str(data["limit"]),
            "x-ratelimit-remaining": str(data["remaining"]),
            "x-ratelimit-used": str(data["used"]),
            "x-ratelimit-reset": str(data["reset"]),
            "x-ratelimit-resource": self.name,
        }


class GitHubSite(Site):
    vendor = "github"

    def __init__(self, config: GitHubSiteConfig, client: Callable[[], httpx.AsyncClient]) -> None:
        super().__init__(
            name=config.name,
            seed=config.seed,
            faults=config.faults,
            activity_tick=config.activity_tick,
            build_headers=_webhook_headers,
            webhook_attempts=1,  # GitHub does not retry failed deliveries
            client=client,
        )
        self.data = GitHubData(
            seed=config.seed,
            owner=config.owner,
            repos=config.repos,
            pulls=config.pulls,
            anchor=config.anchor,
            history_days=config.history_days,
        )
        self.token = config.token or "ghp_" + derive_secret(
            "github", config.name, config.seed, length=36
        )
        self.installation_token = config.installation_token or "ghs_" + derive_secret(
            "github-app", config.name, config.seed, length=36
        )
        self.core = Budget("core", config.rate_limit, 3600)
        self.search = Budget("search", config.search_rate_limit, 60)
        self.public_api = ""  # set by the app once it knows where it is served

    def credentials(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "installation_token": self.installation_token,
            "owner": self.data.owner.login,
            "repos": [r.name for r in self.data.repos.values()],
            "login": self.data.viewer.login,
        }

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(),
            "pulls": sum(len(r.pulls) for r in self.data.repos.values()),
            "version": self.data.version,
            "anchor": self.data.anchor.isoformat(),
            "rate_limit": {"core": self.core.to_json(), "search": self.search.to_json()},
        }

    def apply(self, changes: list[PullChange]) -> list[dict[str, Any]]:
        for change in changes:
            self._notify(change)
        return [c.to_json() for c in changes]

    def activity_step(self) -> list[dict[str, Any]]:
        self.activity_steps += 1
        return self.apply(self.data.activity_step())

    def _notify(self, change: PullChange) -> None:
        if not self.webhooks.registrations:
            return
        api = self.public_api
        html = html_root(api)
        pull, repo = change.pull, change.pull.repo

        def matches(registration: WebhookRegistration) -> bool:
            if not registration.filter:
                return True
            wanted = {n.strip().lower() for n in registration.filter.split(",")}
            return repo.name.lower() in wanted

        payload = {
            "action": change.action,
            "number": pull.number,
            "pull_request": pull_json(pull, api, html, full=True),
            "repository": repo_json(repo, api, html),
            "organization": {
                "login": repo.owner.login,
                "id": repo.owner.id,
                "url": f"{api}/orgs/{repo.owner.login}",
            },
            "sender": account_json(self.data.viewer, api, html),
        }
        self.webhooks.dispatch(
            "pull_request", payload, delivery_id=lambda: str(uuid.uuid4()), matches=matches
        )


def _webhook_headers(
    registration: WebhookRegistration, delivery_id: str, event: str, body: bytes, _attempt: int
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/sandbox",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": str(registration.id),
        "X-GitHub-Hook-Installation-Target-Type": "organization",
    }
    if registration.secret:
        key = registration.secret.encode()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature-256"] = signature(registration.secret, body)
    return headers


# -- JSON shapes -------------------------------------------------------------------------------


def html_root(api: str) -> str:
    return api[: -len("/api/v3")] if api.endswith("/api/v3") else api


def account_json(account: Account, api: str, html: str) -> dict[str, Any]:
    return {
        "login": account.login,
        "id": account.id,
        "node_id": base64.b64encode(f"04:{account.type}{account.id}".encode()).decode(),
        "avatar_url": f"{html}/avatars/{account.login}",
        "gravatar_id": "",
        "url": f"{api}/users/{account.login}",
        "html_url": f"{html}/{account.login}",
        "type": account.type,
        "site_admin": False,
    }


def repo_json(repo: Repo, api: str, html: str) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    pushed = max([repo.created, *(p.updated for p in repo.pulls.values())])
    return {
        "id": repo.id,
        "node_id": base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": True,
        "owner": account_json(repo.owner, api, html),
        "html_url": f"{html}/{repo.full_name}",
        "description": f"The {repo.name} repository (sandbox)",
        "fork": False,
        "url": url,
        "pulls_url": url + "/pulls{/number}",
        "issues_url": url + "/issues{/number}",
        "hooks_url": url + "/hooks",
        "created_at": gh_time(repo.created),
        "updated_at": gh_time(pushed),
        "pushed_at": gh_time(pushed),
        "default_branch": "main",
        "visibility": "private",
        "archived": False,
        "disabled": False,
        "open_issues_count": sum(1 for p in repo.pulls.values() if p.state == "open"),
        "permissions": {
            "admin": False,
            "maintain": False,
            "push": True,
            "triage": True,
            "pull": True,
        },
    }


def pull_json(pull: Pull, api: str, html: str, *, full: bool = False) -> dict[str, Any]:
    repo = pull.repo
    url = f"{api}/repos/{repo.full_name}/pulls/{pull.number}"
    html_url = f"{html}/{repo.full_name}/pull/{pull.number}"
    repo_data = repo_json(repo, api, html)
    owner = account_json(repo.owner, api, html)
    data: dict[str, Any] = {
        "url": url,
        "id": pull.id,
        "node_id": base64.b64encode(f"011:PullRequest{pull.id}".encode()).decode(),
        "html_url": html_url,
        "diff_url": html_url + ".diff",
        "patch_url": html_url + ".patch",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{pull.number}",
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": account_json(pull.user, api, html),
        "body": None,
        "labels": [],
        "milestone": None,
        "draft": pull.draft,
        "created_at": gh_time(pull.created),
        "updated_at": gh_time(pull.updated),
        "closed_at": gh_time(pull.closed),
        "merged_at": gh_time(pull.merged),
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "head": {
            "label": f"{repo.owner.login}:{pull.head_ref}",
            "ref": pull.head_ref,
            "sha": pull.head_sha,
            "user": owner,
            "repo": repo_data,
        },
        "base": {
            "label": f"{repo.owner.login}:{pull.base_ref}",
            "ref": pull.base_ref,
            "sha": pull.head_sha[::-1],
            "user": owner,
            "repo": repo_data,
        },
        "author_association": "MEMBER",
        "auto_merge": None,
        "active_lock_reason": None,
    }
    if full:
        data.update(
            {
                "merged": pull.merged is not None,
                "mergeable": None if pull.state == "closed" else True,
                "merged_by": None,
                "comments": 0,
                "review_comments": 0,
                "commits": 1,
                "additions": 10,
                "deletions": 2,
                "changed_files": 1,
            }
        )
    return data


def search_item_json(pull: Pull, api: str, html: str) -> dict[str, Any]:
    repo = pull.repo
    html_url = f"{html}/{repo.full_name}/pull/{pull.number}"
    return {
        "url": f"{api}/repos/{repo.full_name}/issues/{pull.number}",
        "repository_url": f"{api}/repos/{repo.full_name}",
        "html_url": html_url,
        "id": pull.id + 7_000_000,
        "node_id": base64.b64encode(f"010:Issue{pull.id}".encode()).decode(),
        "number": pull.number,
        "title": pull.title,
        "user": account_json(pull.user, api, html),
        "labels": [],
        "state": pull.state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "comments": 0,
        "created_at": gh_time(pull.created),
        "updated_at": gh_time(pull.updated),
        "closed_at": gh_time(pull.closed),
        "author_association": "MEMBER",
        "draft": pull.draft,
        "pull_request": {
            "url": f"{api}/repos/{repo.full_name}/pulls/{pull.number}",
            "html_url": html_url,
            "diff_url": html_url + ".diff",
            "patch_url": html_url + ".patch",
            "merged_at": gh_time(pull.merged),
        },
        "body": None,
        "score": 1.0,
    }


# -- search qualifiers -------------------------------------------------------------------------

_DATE = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?"


def _parse_moment(text: str, *, end_of_day: bool) -> int:
    if len(text) == 10:
        moment = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        ms = int(moment.timestamp() * 1000)
        return ms + 86_400_000 - 1 if end_of_day else ms
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def date_range(value: str) -> tuple[int | None, int | None] | None:
    """GitHub's range syntax: ``>=D``, ``>D``, ``<=D``, ``<D``, ``D``, ``D1..D2``, ``*..D``."""
    try:
        if match := re.fullmatch(rf"(>=|>|<=|<)({_DATE})", value):
            op, text = match.groups()
            if op == ">=":
                return _parse_moment(text, end_of_day=False), None
            if op == ">":
                return _parse_moment(text, end_of_day=True) + 1, None
            if op == "<=":
                return None, _parse_moment(text, end_of_day=True)
            return None, _parse_moment(text, end_of_day=False) - 1
        if match := re.fullmatch(rf"({_DATE}|\*)\.\.({_DATE}|\*)", value):
            low, high = match.groups()
            return (
                None if low == "*" else _parse_moment(low, end_of_day=False),
                None if high == "*" else _parse_moment(high, end_of_day=True),
            )
        if re.fullmatch(_DATE, value):
            return _parse_moment(value, end_of_day=False), _parse_moment(value, end_of_day=True)
    except ValueError:
        return None
    return None


class SearchError(Exception):
    pass


def compile_search(q: str, data: GitHubData) -> Callable[[Pull], bool]:
    tests: list[Callable[[Pull], bool]] = []
    repos: set[str] = set()
    words: list[str] = []
    for raw in q.split():
        negate = raw.startswith("-") and ":" in raw
        term = raw[1:] if negate else raw
        name, sep, value = term.partition(":")
        name = name.lower()
        if not sep or not value:
            words.append(term.lower())
            continue
        test: Callable[[Pull], bool] | None = None
        if name == "repo":
            owner, _, repo_name = value.partition("/")
            if data.repo(owner, repo_name) is None:
                raise SearchError(CANNOT_SEARCH)
            repos.add(repo_name.lower())
            continue
        if name in ("org", "user", "owner"):
            if value.lower() != data.owner.login.lower():
                raise SearchError(CANNOT_SEARCH)
            continue
        lowered = value.lower()
        if name in ("is", "type", "state"):
            if lowered in ("pr", "pull-request"):
                test = _always
            elif lowered == "issue":
                test = _never
            elif lowered == "open":
                test = lambda p: p.state == "open"  # noqa: E731
            elif lowered == "closed":
                test = lambda p: p.state == "closed"  # noqa: E731
            elif lowered == "merged":
                test = lambda p: p.merged is not None  # noqa: E731
            elif lowered == "unmerged":
                test = lambda p: p.state == "closed" and p.merged is None  # noqa: E731
            elif lowered == "draft":
                test = lambda p: p.draft  # noqa: E731
        elif name in ("merged", "created", "updated", "closed"):
            bounds = date_range(value)
            if bounds is None:
                raise SearchError(f"Invalid date for qualifier '{name}': {value}")
            test = _in_range(name, *bounds)
        elif name == "author":
            test = lambda p, v=lowered: p.user.login.lower() == v  # noqa: E731
        elif name == "base":
            test = lambda p, v=value: p.base_ref == v  # noqa: E731
        elif name == "head":
            test = lambda p, v=value: p.head_ref == v  # noqa: E731
        elif name == "draft":
            test = lambda p, v=lowered == "true": p.draft == v  # noqa: E731
        elif name == "label":
            test = _never
        elif name == "in":
            continue
        if test is None:  # an unknown qualifier is searched as text, like GitHub does
            words.append(term.lower())
            continue
        tests.append(_negated(test) if negate else test)
    if repos:
        tests.append(lambda p: p.repo.name.lower() in repos)
    if words:
        tests.append(lambda p: all(w in p.title.lower() for w in words))
    return lambda pull: all(t(pull) for t in tests)


def _negated(test: Callable[[Pull], bool]) -> Callable[[Pull], bool]:
    return lambda pull: not test(pull)


def _always(_pull: Pull) -> bool:
    return True


def _never(_pull: Pull) -> bool:
    return False


def _in_range(name: str, low: int | None, high: int | None) -> Callable[[Pull], bool]:
    attribute = {
        "merged": "merged",
        "created": "created",
        "updated": "updated",
        "closed": "closed",
    }[name]

    def test(pull: Pull) -> bool:
        value = getattr(pull, attribute)
        if value is None:
            return False
        return (low is None or value >= low) and (high is None or value <= high)

    return test


# -- the app -----------------------------------------------------------------------------------


class GitHubSandboxApp(SandboxApp[GitHubSite]):
    prefix = PREFIX

    def __init__(self, sites: list[GitHubSiteConfig] | None = None) -> None:
        self.server_url = "http://127.0.0.1"
        super().__init__()
        for config in sites or []:
            self.add_config(config)

    def add_config(self, config: GitHubSiteConfig) -> GitHubSite:
        site = self.add_site(GitHubSite(config, self.client))
        site.public_api = self.server_url + PREFIX.replace("{site}", site.name)
        return site

    def set_server_url(self, url: str) -> None:
        self.server_url = url
        for site in self.sites.values():
            site.public_api = url + PREFIX.replace("{site}", site.name)

    def make_site(self, data: dict[str, Any]) -> GitHubSite:
        site = GitHubSite(GitHubSiteConfig.from_json(data), self.client)
        site.public_api = self.server_url + PREFIX.replace("{site}", site.name)
        return site

    # -- pipeline hooks ------------------------------------------------------------------------

    def authenticate(self, request: Request, site: GitHubSite) -> bool | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                value = base64.b64decode(value).decode().partition(":")[2]
            except (ValueError, binascii.Error):
                return False
        elif scheme not in ("token", "bearer"):
            return False
        token = value.strip().encode()
        return hmac.compare_digest(token, site.token.encode()) or hmac.compare_digest(
            token, site.installation_token.encode()
        )

    def error_response(
        self, request: Request, site: GitHubSite | None, status: int, fault: Fault | None
    ) -> Response:
        def body(message: str, code: int, docs: str = DOCS) -> dict[str, Any]:
            return {"message": message, "documentation_url": docs, "status": str(code)}

        if site is None or status == 404:
            return json_response(body("Not Found", 404), 404)
        if status == 401:
            if fault is None and not request.headers.get("authorization"):
                return json_response(body("Requires authentication", 401), 401)
            return json_response(body("Bad credentials", 401), 401)
        if status == 429:
            retry_after = fault.retry_after if fault and fault.retry_after is not None else 60
            return json_response(
                body(
                    "You have exceeded a secondary rate limit. Please wait a few minutes before "
                    "you try again.",
                    429,
                    DOCS + "/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                ),
                429,
                {"retry-after": str(retry_after)},
            )
        if status == 502:
            return Response(
                "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html"
            )
        if status == 503:
            return json_response(body("Service Unavailable", 503), 503)
        return json_response(body("Server Error", status), status)

    def _budget(self, request: Request, site: GitHubSite) -> Budget:
        return site.search if "/search/" in request.url.path else site.core

    def throttle(self, request: Request, site: GitHubSite) -> Response | None:
        if request.url.path.endswith("/rate_limit"):
            return None
        budget = self._budget(request, site)
        if budget.take():
            return None
        return json_response(
            {
                "message": f"API rate limit exceeded for user ID {site.data.viewer.id}.",
                "documentation_url": DOCS + "/overview/rate-limits-for-the-rest-api",
                "status": "403",
            },
            403,
        )

    def decorate(self, request: Request, response: Response, site: GitHubSite) -> None:
        for name, value in self._budget(request, site).headers().items():
            response.headers[name] = value
        response.headers["x-github-api-version-selected"] = "2022-11-28"
        response.headers["x-github-request-id"] = uuid.uuid4().hex[:16].upper()

    # -- routes --------------------------------------------------------------------------------

    def vendor_routes(self) -> list[BaseRoute]:
        return [
            self.api("/user", self.user, methods=["GET"]),
            self.api("/user/repos", self.repos, methods=["GET"]),
            self.api("/users/{login}", self.account, methods=["GET"]),
            self.api("/users/{login}/repos", self.repos, methods=["GET"]),
            self.api("/orgs/{login}", self.org, methods=["GET"]),
            self.api("/orgs/{login}/repos", self.repos, methods=["GET"]),
            self.api("/installation/repositories", self.installation_repos, methods=["GET"]),
            self.api("/repos/{owner}/{repo}", self.repo, methods=["GET"]),
            self.api("/repos/{owner}/{repo}/pulls", self.pulls, methods=["GET"]),
            self.api("/repos/{owner}/{repo}/pulls/{number:int}", self.pull, methods=["GET"]),
            self.api("/search/issues", self.search_issues, methods=["GET"]),
            self.api("/rate_limit", self.rate_limit, methods=["GET"]),
        ]

    def vendor_admin_routes(self) -> list[BaseRoute]:
        return [
            self.admin("/repos", self.admin_add_repo, methods=["POST"]),
            self.admin("/repos/{repo}/pulls", self.admin_open, methods=["POST"]),
            self.admin("/repos/{repo}/pulls/{number:int}", self.admin_update, methods=["PATCH"]),
            self.admin(
                "/repos/{repo}/pulls/{number:int}/merge", self.admin_merge, methods=["POST"]
            ),
        ]

    def validate_webhook_filter(self, site: GitHubSite, value: Any) -> None:
        if value is None:
            return
        for name in str(value).split(","):
            if name.strip().lower() not in site.data.repos:
                raise AdminError(400, f"no repository {name.strip()}")

    def _roots(self, request: Request, site: GitHubSite) -> tuple[str, str]:
        api = self.base_url(request, site)
        return api, html_root(api)

    def _not_found(self, request: Request, site: GitHubSite) -> Response:
        return self.error_response(request, site, 404, None)

    def _paginate(
        self, request: Request, items: list[Any]
    ) -> tuple[list[Any], dict[str, str]] | Response:
        params = request.query_params
        try:
            per_page = int(params.get("per_page", 30))
            page = int(params.get("page", 1))
        except ValueError:
            return json_response(
                {"message": "Invalid request.", "documentation_url": DOCS, "status": "422"}, 422
            )
        per_page = max(1, min(per_page, 100))
        page = max(1, page)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links: list[str] = []

        def link(number: int, rel: str) -> str:
            return f'<{request.url.include_query_params(page=number)}>; rel="{rel}"'

        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        return chunk, ({"link": ", ".join(links)} if links else {})

    async def user(self, request: Request, site: GitHubSite) -> Response:
        api, html = self._roots(request, site)
        data = account_json(site.data.viewer, api, html)
        data.update({"name": "Sandbox Bot", "email": None, "company": site.data.owner.login})
        return json_response(data)

    async def account(self, request: Request, site: GitHubSite) -> Response:
        api, html = self._roots(request, site)
        login = request.path_params["login"].lower()
        everyone = [site.data.viewer, site.data.owner, *site.data.authors]
        account = next((a for a in everyone if a.login.lower() == login), None)
        if account is None:
            return self._not_found(request, site)
        return json_response(account_json(account, api, html))

    async def org(self, request: Request, site: GitHubSite) -> Response:
        api, html = self._roots(request, site)
        if request.path_params["login"].lower() != site.data.owner.login.lower():
            return self._not_found(request, site)
        data = account_json(site.data.owner, api, html)
        data.update(
            {
                "url": f"{api}/orgs/{site.data.owner.login}",
                "repos_url": f"{api}/orgs/{site.data.owner.login}/repos",
                "name": site.data.owner.login.title(),
                "public_repos": 0,
                "total_private_repos": len(site.data.repos),
            }
        )
        return json_response(data)

    async def repos(self, request: Request, site: GitHubSite) -> Response:
        login = request.path_params.get("login")
        if login is not None and login.lower() != site.data.owner.login.lower():
            if request.url.path.split("/")[-3] == "orgs":
                return self._not_found(request, site)
            return json_response([])
        api, html = self._roots(request, site)
        repos = sorted(site.data.repos.values(), key=lambda r: r.name.lower())
        paged = self._paginate(request, repos)
        if isinstance(paged, Response):
            return paged
        chunk, headers = paged
        return json_response([repo_json(r, api, html) for r in chunk], headers=headers)

    async def installation_repos(self, request: Request, site: GitHubSite) -> Response:
        api, html = self._roots(request, site)
        repos = sorted(site.data.repos.values(), key=lambda r: r.name.lower())
        paged = self._paginate(request, repos)
        if isinstance(paged, Response):
            return paged
        chunk, headers = paged
        return json_response(
            {
                "total_count": len(repos),
                "repository_selection": "all",
                "repositories": [repo_json(r, api, html) for r in chunk],
            },
            headers=headers,
        )

    async def repo(self, request: Request, site: GitHubSite) -> Response:
        repo = site.data.repo(request.path_params["owner"], request.path_params["repo"])
        if repo is None:
            return self._not_found(request, site)
        api, html = self._roots(request, site)
        return json_response(repo_json(repo, api, html))

    async def pulls(self, request: Request, site: GitHubSite) -> Response:
        repo = site.data.repo(request.path_params["owner"], request.path_params["repo"])
        if repo is None:
            return self._not_found(request, site)
        params = request.query_params
        state = params.get("state", "open")
        sort = params.get("sort", "created")
        if state not in ("open", "closed", "all") or sort not in (
            "created",
            "updated",
            "popularity",
            "long-running",
        ):
            return json_response(
                {"message": "Validation Failed", "documentation_url": DOCS, "status": "422"}, 422
            )
        default_direction = "desc" if "sort" not in params or sort == "created" else "asc"
        direction = params.get("direction", default_direction)
        pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
        if "base" in params:
            pulls = [p for p in pulls if p.base_ref == params["base"]]
        key: Callable[[Pull], Any] = {
            "created": lambda p: (p.created, p.number),
            "updated": lambda p: (p.updated, p.number),
        }.get(sort, lambda p: (p.created, p.number))
        pulls.sort(key=key, reverse=direction == "desc")
        paged = self._paginate(request, pulls)
        if isinstance(paged, Response):
            return paged
        chunk, headers = paged
        api, html = self._roots(request, site)
        parts = []
        for pull in chunk:
            # The embedded repository changes with any pull request: key on the data version.
            cache_key = (api, site.data.version)
            cached = pull.rendered.get(cache_key)
            if cached is None:
                cached = dumps(pull_json(pull, api, html))
                pull.rendered.clear()
                pull.rendered[cache_key] = cached
            parts.append(cached)
        request.state.items = len(chunk)
        return Response(
            b"[" + b",".join(parts) + b"]", headers=headers, media_type="application/json"
        )

    async def pull(self, request: Request, site: GitHubSite) -> Response:
        repo = site.data.repo(request.path_params["owner"], request.path_params["repo"])
        pull = None if repo is None else repo.pulls.get(request.path_params["number"])
        if pull is None:
            return self._not_found(request, site)
        api, html = self._roots(request, site)
        request.state.items = 1
        return json_response(pull_json(pull, api, html, full=True))

    async def search_issues(self, request: Request, site: GitHubSite) -> Response:
        q = request.query_params.get("q", "").strip()
        if not q:
            return json_response(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Search", "field": "q", "code": "missing"}],
                    "documentation_url": DOCS + "/search/search#search-issues-and-pull-requests",
                    "status": "422",
                },
                422,
            )
        try:
            test = compile_search(q, site.data)
        except SearchError as exc:
            return json_response(
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"message": str(exc), "resource": "Search", "field": "q", "code": "invalid"}
                    ],
                    "documentation_url": DOCS + "/search/search#search-issues-and-pull-requests",
                    "status": "422",
                },
                422,
            )
        sort = request.query_params.get("sort", "created")
        descending = request.query_params.get("order", "desc") != "asc"
        found = [p for p in site.data.all_pulls() if test(p)]
        attribute = "updated" if sort in ("updated", "comments", "interactions") else "created"
        found.sort(key=lambda p: (getattr(p, attribute), p.id), reverse=descending)
        paged = self._paginate(request, found[:1000])
        if isinstance(paged, Response):
            return paged
        chunk, headers = paged
        api, html = self._roots(request, site)
        request.state.items = len(chunk)
        return json_response(
            {
                "total_count": len(found),
                "incomplete_results": False,
                "items": [search_item_json(p, api, html) for p in chunk],
            },
            headers=headers,
        )

    async def rate_limit(self, request: Request, site: GitHubSite) -> Response:
        core, search = site.core.to_json(), site.search.to_json()
        graphql = {"limit": 5000, "used": 0, "remaining": 5000, "reset": core["reset"]}
        return json_response(
            {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}
        )

    # -- admin: change the data ----------------------------------------------------------------

    async def admin_add_repo(self, request: Request, site: GitHubSite) -> Response:
        name = (await read_json(request)).get("name")
        if not name:
            raise AdminError(400, "name is required")
        repo = site.data.add_repo(str(name))
        return json_response(repo_json(repo, site.public_api, html_root(site.public_api)), 201)

    async def admin_open(self, request: Request, site: GitHubSite) -> Response:
        data = await read_json(request)
        count = int(data.pop("count", 1))
        changes = [
            site.data.open(request.path_params["repo"], **data) for _ in range(max(0, count))
        ]
        return json_response({"changes": site.apply(changes)}, 201)

    async def admin_update(self, request: Request, site: GitHubSite) -> Response:
        change = site.data.update(
            request.path_params["repo"], request.path_params["number"], await read_json(request)
        )
        return json_response({"changes": site.apply([change])})

    async def admin_merge(self, request: Request, site: GitHubSite) -> Response:
        change = site.data.update(
            request.path_params["repo"], request.path_params["number"], {"merged": True}
        )
        return json_response({"changes": site.apply([change])})
