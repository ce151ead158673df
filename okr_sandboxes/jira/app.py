"""The Jira Cloud sandbox: the REST subset the ``jira`` client and the connector use.

Site base URL: ``{server}/ex/jira/{site}`` (the layout of Atlassian's API gateway for OAuth 2.0
apps, ``https://api.atlassian.com/ex/jira/{cloudId}``). Under it, for API versions 2 and 3:

- ``GET  rest/api/{v}/serverInfo``: ``deploymentType: "Cloud"`` (a site's ``deployment_type``
  setting plays a Jira Server site); anonymous access allowed
- ``GET  rest/api/{v}/myself``, ``field``, ``project``, ``project/{key}``, ``status``,
  ``statuscategory``, ``issue/{idOrKey}``
- ``GET|POST rest/api/{v}/search/jql``: ``nextPageToken`` paging, ``isLast``; ``maxResults``
  defaults to 50, at most 100 with fields and 5000 for id/key only; no ``fields``: ids only
- ``POST rest/api/{v}/search/approximate-count``: ``{"count": n}``
- ``GET|POST rest/api/{v}/search``: 410 Gone, as on Cloud since the CHANGE-2046 shutdown

Auth: Basic ``email:api_token`` or ``Bearer <access_token>`` (an OAuth 2.0 access token); wrong
credentials answer 401 on every endpoint. Webhooks are signed ``X-Hub-Signature:
sha256=<HMAC>`` with an ``X-Atlassian-Webhook-Identifier`` that stays the same on retries.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from okr_sandboxes.base import (
    AdminError,
    Auth,
    SandboxApp,
    Site,
    derive_secret,
    dumps,
    json_response,
    read_json,
)
from okr_sandboxes.faults import Fault, FaultConfig
from okr_sandboxes.jira.data import (
    CATEGORIES,
    FIELD_CATALOGUE,
    ISSUE_FIELDS,
    ISSUE_TYPES,
    PRIORITIES,
    RESOLUTION_DONE,
    STATUSES,
    STORY_POINTS_FIELD,
    Change,
    Issue,
    JiraData,
    Project,
    Status,
    StatusCategory,
    User,
    jira_time,
)
from okr_sandboxes.jira.jql import UNBOUNDED, JQLError, Query, compile_query, order
from okr_sandboxes.webhooks import WebhookRegistration, signature

PREFIX = "/ex/jira/{site}"
API_VERSIONS = {"2": "2", "3": "3", "latest": "2"}
PAGE_DEFAULT = 50
PAGE_MAX_FIELDS = 100
PAGE_MAX_IDS = 5000
GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
NOT_AUTHENTICATED = "Client must be authenticated to access this resource."


def errors(*messages: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"errorMessages": list(messages), "errors": {}}, status, headers)


@dataclass(frozen=True)
class JiraSiteConfig:
    """One Jira sandbox tenant. Credentials default to values derived from name and seed."""

    name: str
    seed: str
    issues: int = 200
    projects: tuple[str, ...] = ("ENG", "OPS")
    anchor: datetime | None = None
    history_days: int = 120
    email: str | None = None
    api_token: str | None = None
    access_token: str | None = None
    activity_tick: float | None = None
    faults: FaultConfig | None = None
    # what serverInfo reports: anything but "Cloud" plays a Jira Server / Data Center site
    deployment_type: str = "Cloud"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JiraSiteConfig:
        values = dict(data)
        if "name" not in values:
            raise ValueError("name is required")
        values.setdefault("seed", values["name"])
        if "projects" in values:
            values["projects"] = tuple(values["projects"])
        if values.get("anchor"):
            values["anchor"] = datetime.fromisoformat(values["anchor"]).astimezone(UTC)
        if values.get("faults") is not None:
            values["faults"] = FaultConfig.from_json(values["faults"])
        return cls(**values)


class JiraSite(Site):
    vendor = "jira"

    def __init__(self, config: JiraSiteConfig, client: Callable[[], httpx.AsyncClient]) -> None:
        super().__init__(
            name=config.name,
            seed=config.seed,
            faults=config.faults,
            activity_tick=config.activity_tick,
            build_headers=_webhook_headers,
            webhook_attempts=3,
            client=client,
        )
        self.data = JiraData(
            seed=config.seed,
            issues=config.issues,
            projects=config.projects,
            anchor=config.anchor,
            history_days=config.history_days,
        )
        self.deployment_type = config.deployment_type
        self.email = config.email or f"sandbox-admin+{config.name.lower()}@example.com"
        self.api_token = config.api_token or "ATATT" + derive_secret(
            "jira", config.name, config.seed
        )
        self.access_token = config.access_token or "eyJsandbox." + derive_secret(
            "jira-oauth", config.name, config.seed, length=40
        )
        digest = hashlib.sha256(f"jira-me:{config.name}:{config.seed}".encode()).hexdigest()
        self.me = User(
            f"712020:{digest[:8]}-{digest[8:12]}-{digest[12:24]}", "Sandbox Admin", self.email
        )
        self.public_base = ""  # set by the app once it knows where it is served
        self._cache: OrderedDict[tuple[Any, ...], tuple[Query, list[Issue], dict[int, int]]] = (
            OrderedDict()
        )
        self.snapshots: OrderedDict[str, list[Issue]] = OrderedDict()
        self._matches: OrderedDict[Hashable, tuple[int, set[int]]] = OrderedDict()

    def credentials(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "api_token": self.api_token,
            "access_token": self.access_token,
            "account_id": self.me.account_id,
        }

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(),
            "issues": len(self.data.issues),
            "projects": [p.key for p in self.data.projects.values()],
            "version": self.data.version,
            "anchor": self.data.anchor.isoformat(),
        }

    # -- searches ------------------------------------------------------------------------------

    def search(self, jql: str) -> tuple[Query, list[Issue], dict[int, int]]:
        """Compile and run, cached per query text and data version (and minute, when the
        query depends on the clock), so paging 50,000 issues filters once, not per page."""
        now = self.data.now_ms()
        query = compile_query(jql, self.data, now=now, current_user=self.me)
        key = (jql, self.data.version, now // 60_000 if query.uses_now else 0)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        issues = order(query, self.matching(query))
        entry = (query, issues, {issue.id: index for index, issue in enumerate(issues)})
        self._cache[key] = entry
        while len(self._cache) > 16:
            self._cache.popitem(last=False)
        return entry

    def matching(self, query: Query) -> list[Issue]:
        """The issues matching ``query``, in no particular order, found the way a search index
        would: ``updated >= X`` looks only at issues updated since X (bisecting the data's
        ``updated`` index), and a clock-independent restriction keeps its match set, which
        catches up with later changes by re-testing only the issues changed since."""
        predicate = query.predicate
        data = self.data
        if query.updated_from is not None:
            candidates = data.updated_since(query.updated_from)
            return candidates if predicate is None else [i for i in candidates if predicate(i)]
        if predicate is None:
            return list(data.issues.values())
        ids = self._match_set(query)
        if ids is None:
            return [i for i in data.issues.values() if predicate(i)]
        issues = data.issues
        return [issues[issue_id] for issue_id in ids]

    def count(self, query: Query) -> int:
        """How many issues match ``query`` (what ``approximate-count`` answers)."""
        if query.updated_from is None and query.predicate is not None:
            ids = self._match_set(query)
            if ids is not None:
                return len(ids)
        return len(self.matching(query))

    def _match_set(self, query: Query) -> set[int] | None:
        """The cached ids matching a clock-independent restriction, brought up to date."""
        predicate = query.predicate
        if predicate is None or query.uses_now:
            return None
        data = self.data
        entry = self._matches.get(query.shape)
        ids: set[int] | None = None
        if entry is not None:
            built, ids = entry
            if built != data.version:
                changed = data.changed_since(built)
                if changed is None:
                    ids = None
                else:
                    for issue_id in changed:
                        issue = data.issues.get(issue_id)
                        if issue is not None and predicate(issue):
                            ids.add(issue_id)
                        else:
                            ids.discard(issue_id)
        if ids is None:
            ids = {i.id for i in data.issues.values() if predicate(i)}
        self._matches[query.shape] = (data.version, ids)
        self._matches.move_to_end(query.shape)
        while len(self._matches) > 32:
            self._matches.popitem(last=False)
        return ids

    def snapshot(self, issues: list[Issue]) -> str:
        """Keep a result for the pages after the first (the 64 most recent searches)."""
        key = uuid.uuid4().hex[:16]
        self.snapshots[key] = issues
        while len(self.snapshots) > 64:
            self.snapshots.popitem(last=False)
        return key

    # -- changes and webhooks ------------------------------------------------------------------

    def apply(self, changes: list[Change]) -> list[dict[str, Any]]:
        for change in changes:
            self._notify(change)
        return [c.to_json() for c in changes]

    def activity_step(self) -> list[dict[str, Any]]:
        self.activity_steps += 1
        return self.apply(self.data.activity_step())

    def _notify(self, change: Change) -> None:
        if not self.webhooks.registrations:
            return
        issue = change.issue
        filters: dict[str, Query | None] = {}
        for registration in self.webhooks.registrations.values():
            if registration.filter and registration.filter not in filters:
                try:
                    filters[registration.filter] = compile_query(
                        registration.filter, self.data, now=self.data.now_ms(), current_user=self.me
                    )
                except JQLError:
                    filters[registration.filter] = None

        def matches(registration: WebhookRegistration) -> bool:
            if not registration.filter:
                return True
            query = filters.get(registration.filter)
            return query is not None and (query.predicate is None or query.predicate(issue))

        event_type = {
            "jira:issue_created": "issue_created",
            "jira:issue_deleted": "issue_deleted",
        }.get(
            change.event,
            "issue_moved" if any(i["field"] == "Key" for i in change.items) else "issue_generic",
        )
        issue_json = render_fields(issue, self.public_base, "2", None)
        user = user_json(self.me, self.public_base, "2")

        def payload(registration: WebhookRegistration) -> dict[str, Any]:
            data: dict[str, Any] = {
                "timestamp": self.data.now_ms(),
                "webhookEvent": change.event,
                "issue_event_type_name": event_type,
                "user": user,
                "issue": issue_json,
                "matchedWebhookIds": [registration.id],
            }
            if change.items:
                data["changelog"] = {"id": str(self.data.now_ms()), "items": change.items}
            return data

        self.webhooks.dispatch(
            change.event, payload, delivery_id=lambda: str(uuid.uuid4()), matches=matches
        )


def _webhook_headers(
    registration: WebhookRegistration, delivery_id: str, _event: str, body: bytes, attempt: int
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Atlassian Webhook HTTP Client",
        "X-Atlassian-Webhook-Identifier": delivery_id,
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    if registration.secret:
        headers["X-Hub-Signature"] = signature(registration.secret, body)
    if attempt:
        headers["X-Atlassian-Webhook-Retry"] = str(attempt)
    return headers


# -- JSON shapes -------------------------------------------------------------------------------


def category_json(category: StatusCategory, api: str) -> dict[str, Any]:
    return {
        "self": f"{api}/statuscategory/{category.id}",
        "id": category.id,
        "key": category.key,
        "colorName": category.color,
        "name": category.name,
    }


def status_json(status: Status, api: str) -> dict[str, Any]:
    return {
        "self": f"{api}/status/{status.id}",
        "description": "",
        "iconUrl": f"{api.rsplit('/rest/', 1)[0]}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": category_json(status.category, api),
    }


def project_json(project: Project, api: str) -> dict[str, Any]:
    return {
        "self": f"{api}/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
        "simplified": False,
    }


def user_json(user: User, base: str, version: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/api/{version}/user?accountId={user.account_id}",
        "accountId": user.account_id,
        "emailAddress": user.email,
        "displayName": user.display_name,
        "active": True,
        "timeZone": "UTC",
        "accountType": "atlassian",
    }


def render_fields(
    issue: Issue, base: str, version: str, wanted: frozenset[str] | None
) -> dict[str, Any]:
    """The issue as the REST API shows it; ``wanted`` None means every field."""
    api = f"{base}/rest/api/{version}"
    description: Any = issue.description
    if version == "3":  # v3 speaks Atlassian Document Format
        description = {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": description}]}],
        }
    every: dict[str, Callable[[], Any]] = {
        "summary": lambda: issue.summary,
        "description": lambda: description,
        "status": lambda: status_json(issue.status, api),
        "issuetype": lambda: {
            "self": f"{api}/issuetype/{issue.issuetype.id}",
            "id": issue.issuetype.id,
            "description": "",
            "name": issue.issuetype.name,
            "subtask": False,
            "hierarchyLevel": 1 if issue.issuetype.name == "Epic" else 0,
        },
        "project": lambda: project_json(issue.project, api),
        "labels": lambda: list(issue.labels),
        "priority": lambda: {
            "self": f"{api}/priority/{issue.priority.id}",
            "id": issue.priority.id,
            "name": issue.priority.name,
        },
        "assignee": lambda: (
            None if issue.assignee is None else user_json(issue.assignee, base, version)
        ),
        "created": lambda: jira_time(issue.created),
        "updated": lambda: jira_time(issue.updated),
        "resolutiondate": lambda: jira_time(issue.resolved),
        "resolution": lambda: (
            None
            if issue.resolved is None
            else {
                "self": f"{api}/resolution/{RESOLUTION_DONE.id}",
                "id": RESOLUTION_DONE.id,
                "description": "Work has been done on this issue.",
                "name": RESOLUTION_DONE.name,
            }
        ),
        "statuscategorychangedate": lambda: jira_time(issue.status_changed),
        STORY_POINTS_FIELD: lambda: issue.points,
    }
    names = ISSUE_FIELDS if wanted is None else [f for f in ISSUE_FIELDS if f in wanted]
    return {
        "expand": EXPAND,
        "id": str(issue.id),
        "self": f"{api}/issue/{issue.id}",
        "key": issue.key,
        "fields": {name: every[name]() for name in names},
    }


_encode = json.encoder.encode_basestring
EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


def _time(ms: int | None) -> str:
    if ms is None:
        return "null"
    t = time.gmtime(ms // 1000)
    return '"%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000"' % (  # noqa: UP031 - hot path
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        ms % 1000,
    )


@functools.lru_cache(maxsize=256)
def _catalogue_json(api: str) -> dict[str, dict[str, str]]:
    """Pre-encoded JSON of the fixed catalogue (statuses, types, priorities) for one API root."""
    probe = Issue(
        id=0,
        key="X-0",
        number=0,
        project=Project("0", "X", "X"),
        summary="",
        description="",
        status=STATUSES[0],
        issuetype=ISSUE_TYPES[0],
        priority=PRIORITIES[0],
        labels=(),
        created=0,
        updated=0,
        resolved=0,
        status_changed=0,
        points=None,
        assignee=None,
    )
    base, _, version = api.rpartition("/rest/api/")
    out: dict[str, dict[str, str]] = {"status": {}, "issuetype": {}, "priority": {}}
    for status in STATUSES:
        out["status"][status.id] = json.dumps(status_json(status, api), separators=(",", ":"))
    for issuetype in ISSUE_TYPES:
        probe.issuetype = issuetype
        out["issuetype"][issuetype.id] = json.dumps(
            render_fields(probe, base, version, frozenset({"issuetype"}))["fields"]["issuetype"],
            separators=(",", ":"),
        )
    for priority in PRIORITIES:
        probe.priority = priority
        out["priority"][priority.id] = json.dumps(
            render_fields(probe, base, version, frozenset({"priority"}))["fields"]["priority"],
            separators=(",", ":"),
        )
    out["resolution"] = {
        "done": json.dumps(
            render_fields(probe, base, version, frozenset({"resolution"}))["fields"]["resolution"],
            separators=(",", ":"),
        )
    }
    return out


@functools.lru_cache(maxsize=4096)
def _project_json(api: str, project_id: str, key: str, name: str) -> str:
    return json.dumps(project_json(Project(project_id, key, name), api), separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _user_json(base: str, version: str, user: User) -> str:
    return json.dumps(user_json(user, base, version), separators=(",", ":"))


def render_issue(issue: Issue, base: str, version: str, wanted: frozenset[str] | None) -> bytes:
    """:func:`render_fields` as JSON bytes, built from cached fragments: the hot path of paging
    50,000 issues (a test checks both give the same JSON)."""
    key = (base, version, wanted)
    cached = issue.rendered.get(key)
    if cached is not None:
        return cached
    api = f"{base}/rest/api/{version}"
    catalogue = _catalogue_json(api)
    names = ISSUE_FIELDS if wanted is None else [f for f in ISSUE_FIELDS if f in wanted]
    parts: list[str] = []
    for name in names:
        if name == "summary":
            value = _encode(issue.summary)
        elif name == "description":
            value = _encode(issue.description)
            if version == "3":
                value = (
                    '{"type":"doc","version":1,"content":[{"type":"paragraph","content":'
                    '[{"type":"text","text":' + value + "}]}]}"
                )
        elif name == "status":
            value = catalogue["status"][issue.status.id]
        elif name == "issuetype":
            value = catalogue["issuetype"][issue.issuetype.id]
        elif name == "project":
            p = issue.project
            value = _project_json(api, p.id, p.key, p.name)
        elif name == "labels":
            value = "[" + ",".join(_encode(label) for label in issue.labels) + "]"
        elif name == "priority":
            value = catalogue["priority"][issue.priority.id]
        elif name == "assignee":
            value = "null" if issue.assignee is None else _user_json(base, version, issue.assignee)
        elif name == "created":
            value = _time(issue.created)
        elif name == "updated":
            value = _time(issue.updated)
        elif name == "resolutiondate":
            value = _time(issue.resolved)
        elif name == "resolution":
            value = "null" if issue.resolved is None else catalogue["resolution"]["done"]
        elif name == "statuscategorychangedate":
            value = _time(issue.status_changed)
        else:  # story points
            value = "null" if issue.points is None else repr(issue.points)
        parts.append(f'"{name}":{value}')
    text = (
        f'{{"expand":"{EXPAND}","id":"{issue.id}","self":"{api}/issue/{issue.id}",'
        f'"key":{_encode(issue.key)},"fields":{{{",".join(parts)}}}}}'
    )
    cached = text.encode()
    issue.rendered[key] = cached
    return cached


def parse_fields(values: list[str] | None) -> frozenset[str] | bool | None:
    """``fields`` from the query string or body: repeated and/or comma-separated.

    Returns False when no fields were asked for (ids only), None for every field, or the set.
    """
    if values is None:
        return False
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        return False
    every = {"*all", "*navigable"}
    chosen: set[str] = set(ISSUE_FIELDS) if every.intersection(names) else set()
    for name in names:
        if name in every:
            continue
        if name.startswith("-"):
            chosen.discard(name[1:])
        else:
            chosen.add(name)
    if chosen >= set(ISSUE_FIELDS):
        return None
    return frozenset(chosen)


def _page_token(jql: str, snapshot: str, offset: int, last_id: int | None) -> str:
    raw = json.dumps(
        {
            "q": hashlib.sha256(jql.encode()).hexdigest()[:16],
            "s": snapshot,
            "o": offset,
            "l": last_id,
        }
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_token(jql: str, token: str) -> tuple[str, int, int | None] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["q"] != hashlib.sha256(jql.encode()).hexdigest()[:16]:
            return None
        return str(data["s"]), int(data["o"]), data["l"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


# -- the app -----------------------------------------------------------------------------------


class JiraSandboxApp(SandboxApp[JiraSite]):
    prefix = PREFIX

    def __init__(self, sites: list[JiraSiteConfig] | None = None) -> None:
        self.server_url = "http://127.0.0.1"
        super().__init__()
        for config in sites or []:
            self.add_config(config)

    def add_config(self, config: JiraSiteConfig) -> JiraSite:
        site = self.add_site(JiraSite(config, self.client))
        site.public_base = self.server_url + PREFIX.replace("{site}", site.name)
        return site

    def set_server_url(self, url: str) -> None:
        self.server_url = url
        for site in self.sites.values():
            site.public_base = url + PREFIX.replace("{site}", site.name)

    def make_site(self, data: dict[str, Any]) -> JiraSite:
        site = JiraSite(JiraSiteConfig.from_json(data), self.client)
        site.public_base = self.server_url + PREFIX.replace("{site}", site.name)
        return site

    # -- pipeline hooks ------------------------------------------------------------------------

    def authenticate(self, request: Request, site: JiraSite) -> bool | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                email, _, token = base64.b64decode(value).decode().partition(":")
            except (ValueError, binascii.Error):
                return False
            return email.lower() == site.email.lower() and hmac.compare_digest(
                token.encode(), site.api_token.encode()
            )
        if scheme == "bearer":
            return hmac.compare_digest(value.encode(), site.access_token.encode())
        return False

    def error_response(
        self, request: Request, site: JiraSite | None, status: int, fault: Fault | None
    ) -> Response:
        if site is None:
            return errors("Site not found.", status=404)
        if status == 401:
            return errors(NOT_AUTHENTICATED, status=401)
        if status == 429:
            retry_after = fault.retry_after if fault and fault.retry_after is not None else 1
            reset = datetime.fromtimestamp(time.time() + retry_after, UTC)
            return errors(
                "Rate limit exceeded.",
                status=429,
                headers={
                    "Retry-After": str(retry_after),
                    "X-RateLimit-Limit": "100",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
                    "X-RateLimit-NearLimit": "true",
                    "RateLimit-Reason": "jira-burst-based",
                },
            )
        if status == 502:
            return Response(
                "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html"
            )
        if status == 503:
            return errors("Service Unavailable", status=503)
        return errors("Internal server error", status=status)

    def decorate(self, request: Request, response: Response, site: JiraSite) -> None:
        response.headers["X-AREQUESTID"] = uuid.uuid4().hex[:12]

    # -- routes --------------------------------------------------------------------------------

    def vendor_routes(self) -> list[BaseRoute]:
        api = "/rest/api/{version}"
        return [
            self.api(
                f"{api}/serverInfo", self.server_info, methods=["GET"], auth=Auth(required=False)
            ),
            self.api(f"{api}/myself", self.myself, methods=["GET"]),
            self.api("/rest/auth/1/session", self.session, methods=["GET"]),
            self.api(f"{api}/field", self.fields, methods=["GET"]),
            self.api(f"{api}/search/jql", self.search_jql, methods=["GET", "POST"]),
            self.api(f"{api}/search/approximate-count", self.approximate_count, methods=["POST"]),
            self.api(f"{api}/search", self.removed_search, methods=["GET", "POST"]),
            self.api(f"{api}/issue/{{key}}", self.issue, methods=["GET"]),
            self.api(f"{api}/project", self.projects, methods=["GET"]),
            self.api(f"{api}/project/{{key}}", self.project, methods=["GET"]),
            self.api(f"{api}/status", self.statuses, methods=["GET"]),
            self.api(f"{api}/statuscategory", self.status_categories, methods=["GET"]),
        ]

    def vendor_admin_routes(self) -> list[BaseRoute]:
        return [
            self.admin("/issues", self.admin_create, methods=["POST"]),
            self.admin("/issues/{key}", self.admin_get, methods=["GET"]),
            self.admin("/issues/{key}", self.admin_update, methods=["PATCH"]),
            self.admin("/issues/{key}", self.admin_delete, methods=["DELETE"]),
            self.admin("/issues/{key}/move", self.admin_move, methods=["POST"]),
            self.admin("/clock", self.admin_clock, methods=["GET"]),
            self.admin("/clock", self.admin_advance_clock, methods=["POST"]),
        ]

    def validate_webhook_filter(self, site: JiraSite, value: Any) -> None:
        if value is None:
            return
        try:
            compile_query(str(value), site.data, now=site.data.now_ms(), current_user=site.me)
        except JQLError as exc:
            raise AdminError(400, "invalid JQL filter: " + "; ".join(exc.messages)) from exc

    @staticmethod
    def _version(request: Request) -> str | None:
        return API_VERSIONS.get(request.path_params["version"])

    def _base(self, request: Request, site: JiraSite) -> str:
        return self.base_url(request, site)

    async def server_info(self, request: Request, site: JiraSite) -> Response:
        return json_response(
            {
                "baseUrl": self._base(request, site),
                "displayUrl": self._base(request, site),
                "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0],
                "deploymentType": site.deployment_type,
                "buildNumber": 100289,
                "buildDate": "2025-06-30T00:00:00.000+0000",
                "serverTime": jira_time(site.data.now_ms()),
                "scmInfo": "sandbox",
                "serverTitle": "Jira",
                "defaultLocale": {"locale": "en_US"},
                "serverTimeZone": "Etc/UTC",
            }
        )

    async def myself(self, request: Request, site: JiraSite) -> Response:
        version = self._version(request) or "2"
        data = user_json(site.me, self._base(request, site), version)
        data.update({"locale": "en_US", "groups": {"size": 2, "items": []}})
        return json_response(data)

    async def session(self, request: Request, site: JiraSite) -> Response:
        """What ``JIRA(validate=True)`` reads to check the credentials."""
        user = f"{self._base(request, site)}/rest/api/2/user?accountId={site.me.account_id}"
        return json_response(
            {
                "self": user,
                "name": site.email,
                "loginInfo": {"failedLoginCount": 0, "loginCount": 1},
            }
        )

    async def fields(self, request: Request, site: JiraSite) -> Response:
        result = []
        for field_id, name, kind, clauses, custom in FIELD_CATALOGUE:
            schema: dict[str, Any] = {"type": kind}
            if custom:
                schema.update(
                    {"custom": "com.pyxis.greenhopper.jira:jsw-story-points", "customId": 10016}
                )
            else:
                schema["system"] = field_id
            result.append(
                {
                    "id": field_id,
                    "key": field_id,
                    "name": name,
                    "custom": custom,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": list(clauses),
                    "schema": schema,
                }
            )
        return json_response(result)

    async def removed_search(self, request: Request, site: JiraSite) -> Response:
        return errors(GONE, status=410)

    async def search_jql(self, request: Request, site: JiraSite) -> Response:
        version = self._version(request)
        if version is None:
            return errors("Not found", status=404)
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return errors(
                    "Invalid request payload. Refer to the REST API documentation and try again.",
                    status=400,
                )
            jql = str(body.get("jql") or "")
            raw_fields = body.get("fields")
            fields_list = None if raw_fields is None else [str(f) for f in raw_fields]
            max_results: Any = body.get("maxResults")
            token = body.get("nextPageToken")
        else:
            params = request.query_params
            jql = params.get("jql", "")
            fields_list = params.getlist("fields") if "fields" in params else None
            max_results = params.get("maxResults")
            token = params.get("nextPageToken")
        wanted = parse_fields(fields_list)
        ids_only = wanted is False or (isinstance(wanted, frozenset) and wanted <= {"id", "key"})
        limit = PAGE_MAX_IDS if ids_only else PAGE_MAX_FIELDS
        try:
            size = PAGE_DEFAULT if max_results in (None, "") else int(max_results)
        except (TypeError, ValueError):
            return errors("The maxResults parameter must be a number.", status=400)
        size = max(0, min(size, limit))
        try:
            query, issues, positions = site.search(jql)
        except JQLError as exc:
            return errors(*exc.messages, status=400)
        if not query.bounded:
            return errors(UNBOUNDED, status=400)
        start, snapshot = 0, ""
        if token:
            read = _read_token(jql, str(token))
            if read is None:
                return errors("The provided next page token is invalid or expired.", status=400)
            snapshot, offset, last_id = read
            frozen = site.snapshots.get(snapshot)
            if frozen is not None:  # the result as the first page saw it: no skips, no repeats
                issues, start = frozen, offset
            elif last_id is not None and last_id in positions:  # expired: continue after it
                start = positions[last_id] + 1
            else:
                start = min(offset, len(issues))
        elif len(issues) > size:
            snapshot = site.snapshot(issues)
        page = issues[start : start + size]
        end = start + len(page)
        if snapshot in site.snapshots:  # issues deleted since the snapshot are gone
            page = [issue for issue in page if issue.id in site.data.issues]
        base = self._base(request, site)
        if wanted is False:
            parts = [dumps({"id": str(issue.id)}) for issue in page]
        else:
            fieldset = wanted if isinstance(wanted, frozenset) else None
            parts = [render_issue(issue, base, version, fieldset) for issue in page]
        request.state.items = len(page)
        tail: dict[str, Any] = {"isLast": end >= len(issues)}
        if end < len(issues):
            last = issues[end - 1].id if end else None
            tail["nextPageToken"] = _page_token(jql, snapshot, end, last)
        body_bytes = b'{"issues":[' + b",".join(parts) + b"]," + dumps(tail)[1:]
        return Response(body_bytes, 200, media_type="application/json")

    async def approximate_count(self, request: Request, site: JiraSite) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return errors(
                "Invalid request payload. Refer to the REST API documentation and try again.",
                status=400,
            )
        try:
            query = compile_query(
                str(body.get("jql") or ""), site.data, now=site.data.now_ms(), current_user=site.me
            )
        except JQLError as exc:
            return errors(*exc.messages, status=400)
        if not query.bounded:
            return errors(UNBOUNDED, status=400)
        return json_response({"count": site.count(query)})

    async def issue(self, request: Request, site: JiraSite) -> Response:
        version = self._version(request)
        issue = site.data.find(request.path_params["key"])
        if version is None or issue is None:
            return errors(
                "Issue does not exist or you do not have permission to see it.", status=404
            )
        params = request.query_params
        wanted = parse_fields(params.getlist("fields")) if "fields" in params else None
        fieldset = wanted if isinstance(wanted, frozenset) else None
        request.state.items = 1
        return Response(
            render_issue(issue, self._base(request, site), version, fieldset),
            media_type="application/json",
        )

    async def projects(self, request: Request, site: JiraSite) -> Response:
        api = f"{self._base(request, site)}/rest/api/{self._version(request) or '2'}"
        return json_response([project_json(p, api) for p in site.data.projects.values()])

    async def project(self, request: Request, site: JiraSite) -> Response:
        api = f"{self._base(request, site)}/rest/api/{self._version(request) or '2'}"
        project = site.data.project(request.path_params["key"])
        if project is None:
            return errors(
                "No project could be found with key '{}'.".format(request.path_params["key"]),
                status=404,
            )
        return json_response(project_json(project, api))

    async def statuses(self, request: Request, site: JiraSite) -> Response:
        api = f"{self._base(request, site)}/rest/api/{self._version(request) or '2'}"
        return json_response([status_json(s, api) for s in STATUSES])

    async def status_categories(self, request: Request, site: JiraSite) -> Response:
        api = f"{self._base(request, site)}/rest/api/{self._version(request) or '2'}"
        return json_response([category_json(c, api) for c in CATEGORIES])

    # -- admin: change the data ----------------------------------------------------------------

    async def admin_create(self, request: Request, site: JiraSite) -> Response:
        data = await read_json(request)
        count = int(data.pop("count", 1))
        data.setdefault("project", next(iter(site.data.projects)))
        changes = [site.data.create(**data) for _ in range(count)]
        return json_response({"changes": site.apply(changes)}, 201)

    async def admin_get(self, request: Request, site: JiraSite) -> Response:
        issue = site.data.require(request.path_params["key"])
        return Response(
            render_issue(issue, site.public_base, "2", None), media_type="application/json"
        )

    async def admin_update(self, request: Request, site: JiraSite) -> Response:
        data = await read_json(request)
        at = _stamp(data.pop("at", None))
        change = site.data.update(request.path_params["key"], data, at=at)
        return json_response({"changes": site.apply([change])})

    async def admin_clock(self, request: Request, site: JiraSite) -> Response:
        return json_response(_clock_json(site))

    async def admin_advance_clock(self, request: Request, site: JiraSite) -> Response:
        seconds = float((await read_json(request)).get("advance_seconds", 0))
        site.data.advance(round(seconds * 1000))
        return json_response(_clock_json(site))

    async def admin_move(self, request: Request, site: JiraSite) -> Response:
        project = (await read_json(request)).get("project")
        if not project:
            raise AdminError(400, "project is required")
        change = site.data.update(request.path_params["key"], {"project": project})
        return json_response({"changes": site.apply([change])})

    async def admin_delete(self, request: Request, site: JiraSite) -> Response:
        change = site.data.delete(request.path_params["key"])
        return json_response({"changes": site.apply([change])})


def _clock_json(site: JiraSite) -> dict[str, Any]:
    now = site.data.now_ms()
    return {"now": jira_time(now), "now_ms": now, "offset_ms": site.data.clock_offset_ms}


def _stamp(value: Any) -> int | None:
    """An admin change's ``at``: epoch milliseconds or an ISO-8601 time (UTC if naive)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
