"""Seeded Jira data of one site and the changes tests and the activity mode make to it.

The same seed gives the same projects, users and issues on every run (``random.Random`` seeded
with a string is stable across processes). Timestamps fall in the ``history_days`` before the
``anchor`` (by default the start of the current UTC day, so a day's runs agree); every change
made later stamps the site's clock, which is always after the anchor, so an incremental sync sees
exactly the changed issues.

The site's clock is the real one plus an offset that only grows (:meth:`JiraData.advance`), so a
benchmark can play an hour between two syncs in a second: changes stamped at times spread over
the hour just played (``at``) look like those of a real sync interval, and a search for
``updated >= X`` sees them as Jira would.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# -- the fixed catalogue: statuses, categories, types, priorities, fields ----------------------


@dataclass(frozen=True)
class StatusCategory:
    id: int
    key: str
    name: str
    color: str


TODO = StatusCategory(2, "new", "To Do", "blue-gray")
IN_PROGRESS = StatusCategory(4, "indeterminate", "In Progress", "yellow")
DONE = StatusCategory(3, "done", "Done", "green")
CATEGORIES = (TODO, IN_PROGRESS, DONE)


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: StatusCategory
    rank: int  # workflow order, also the sort order of ``ORDER BY status``


STATUSES = (
    Status("10000", "To Do", TODO, 0),
    Status("3", "In Progress", IN_PROGRESS, 1),
    Status("10001", "In Review", IN_PROGRESS, 2),
    Status("10002", "Done", DONE, 3),
)
STATUS_BY_ID = {s.id: s for s in STATUSES}


@dataclass(frozen=True)
class Named:
    id: str
    name: str
    rank: int = 0


ISSUE_TYPES = (
    Named("10001", "Story"),
    Named("10002", "Task"),
    Named("10003", "Bug"),
    Named("10004", "Epic"),
)
PRIORITIES = (
    Named("1", "Highest", 1),
    Named("2", "High", 2),
    Named("3", "Medium", 3),
    Named("4", "Low", 4),
    Named("5", "Lowest", 5),
)
RESOLUTION_DONE = Named("10000", "Done")
STORY_POINTS_FIELD = "customfield_10016"
STORY_POINTS_NAME = "Story point estimate"

# id, name, schema type, clause names, custom
FIELD_CATALOGUE: tuple[tuple[str, str, str, tuple[str, ...], bool], ...] = (
    ("issuekey", "Key", "string", ("id", "issue", "issuekey", "key"), False),
    ("summary", "Summary", "string", ("summary",), False),
    ("description", "Description", "string", ("description",), False),
    ("status", "Status", "status", ("status",), False),
    ("statusCategory", "Status Category", "statusCategory", ("statusCategory",), False),
    ("issuetype", "Issue Type", "issuetype", ("issuetype", "type"), False),
    ("project", "Project", "project", ("project",), False),
    ("labels", "Labels", "array", ("labels",), False),
    ("priority", "Priority", "priority", ("priority",), False),
    ("assignee", "Assignee", "user", ("assignee",), False),
    ("created", "Created", "datetime", ("created", "createdDate"), False),
    ("updated", "Updated", "datetime", ("updated", "updatedDate"), False),
    ("resolutiondate", "Resolved", "datetime", ("resolutiondate", "resolved"), False),
    ("resolution", "Resolution", "resolution", ("resolution",), False),
    (
        "statuscategorychangedate",
        "Status Category Changed",
        "datetime",
        ("statusCategoryChangedDate",),
        False,
    ),
    (STORY_POINTS_FIELD, STORY_POINTS_NAME, "number", ("cf[10016]", STORY_POINTS_NAME), True),
)
ISSUE_FIELDS = tuple(f[0] for f in FIELD_CATALOGUE if f[0] not in ("issuekey", "statusCategory"))

LABELS = ("backend", "frontend", "customer", "tech-debt", "security", "q-goal", "infra", "ux")
VERBS = ("Add", "Fix", "Improve", "Refactor", "Document", "Migrate", "Remove", "Speed up")
NOUNS = (
    "login flow",
    "billing export",
    "search index",
    "audit trail",
    "onboarding email",
    "API pagination",
    "dashboard chart",
    "SAML settings",
    "webhook retries",
    "report PDF",
    "mobile layout",
    "rate limiter",
)
FIRST = ("Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Donald", "Frances", "Edsger")
LAST = ("Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Knuth", "Allen")
DAY_MS = 86_400_000
LOG_LIMIT = 200_000  # changes remembered for catching up cached match sets


def now_ms() -> int:
    return int(time.time() * 1000)


def start_of_today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def jira_time(ms: int | None) -> str | None:
    """``2025-01-02T04:00:00.000+0000``: Jira's timestamp format, in the user's zone (UTC)."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}+0000"


# -- the data ----------------------------------------------------------------------------------


@dataclass
class Project:
    id: str
    key: str
    name: str
    next_number: int = 1


@dataclass(frozen=True)
class User:
    account_id: str
    display_name: str
    email: str


@dataclass(eq=False, slots=True)
class Issue:
    id: int
    key: str
    number: int
    project: Project
    summary: str
    description: str
    status: Status
    issuetype: Named
    priority: Named
    labels: tuple[str, ...]
    created: int
    updated: int
    resolved: int | None
    status_changed: int
    points: float | None
    assignee: User | None
    old_keys: list[str] = field(default_factory=list)
    rendered: dict[tuple[Any, ...], bytes] = field(default_factory=dict)

    def touch(self, at: int) -> None:
        self.updated = max(at, self.updated + 1)
        self.rendered.clear()


@dataclass
class Change:
    """One change to one issue, as a Jira webhook reports it."""

    event: str  # jira:issue_created, jira:issue_updated, jira:issue_deleted
    issue: Issue
    items: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "key": self.issue.key, "items": self.items}


def _title(key: str) -> str:
    names = {"ENG": "Engineering", "OPS": "Operations", "WEB": "Web", "MOB": "Mobile"}
    return names.get(key, f"{key.title()} project")


class JiraData:
    """Projects, users and issues of one site, with the indexes searches need."""

    def __init__(
        self,
        *,
        seed: str,
        issues: int = 200,
        projects: Sequence[str] = ("ENG", "OPS"),
        anchor: datetime | None = None,
        history_days: int = 120,
    ) -> None:
        if issues < 0:
            raise ValueError("issues must not be negative")
        if not projects:
            raise ValueError("at least one project is needed")
        self.seed = seed
        self.anchor = anchor or start_of_today()
        self.history_days = history_days
        self.version = 0  # bumped by every change; search caches key on it
        self.clock_offset_ms = 0  # the site's clock runs this far ahead of the real one
        # (updated, id) of every issue, sorted: ``updated >= X`` searches bisect it, as a
        # search index would, instead of testing every issue.
        self._by_updated: list[tuple[int, int]] = []
        # (version, issue id) of every change since ``_log_floor``, in version order: cached
        # match sets catch up by re-testing only the issues changed since they were built.
        self._log: list[tuple[int, int]] = []
        self._log_floor = 0
        self._rng = random.Random(f"jira:{seed}")
        self.activity_rng = random.Random(f"jira-activity:{seed}")
        self.projects: dict[str, Project] = {}
        for index, key in enumerate(projects):
            key = key.upper()
            if key in self.projects:
                raise ValueError(f"duplicate project key {key}")
            self.projects[key] = Project(str(10000 + index), key, _title(key))
        self.users = [self._make_user(i) for i in range(8)]
        self.issues: dict[int, Issue] = {}
        self.by_key: dict[str, Issue] = {}
        self._next_id = 10000
        self._generate(issues)

    # -- generation ----------------------------------------------------------------------------

    def _make_user(self, index: int) -> User:
        rng = self._rng
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        digest = hashlib.sha256(f"{self.seed}:{index}".encode()).hexdigest()
        account_id = f"712020:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:28]}"
        email = f"{name.lower().replace(' ', '.')}{index}@example.com"
        return User(account_id, name, email)

    def _generate(self, count: int) -> None:
        rng = self._rng
        end = to_ms(self.anchor)
        start = end - self.history_days * DAY_MS
        keys = list(self.projects)
        weights = [2**-i for i in range(len(keys))]
        for _ in range(count):
            project = self.projects[rng.choices(keys, weights)[0]]
            created = start + int(rng.random() * (end - start))
            old = (end - created) > 30 * DAY_MS
            status = rng.choices(STATUSES, (5, 15, 5, 75) if old else (25, 30, 10, 35))[0]
            updated = created + int(rng.random() * (end - created))
            changed = created + int(rng.random() * (updated - created))
            issuetype = rng.choices(ISSUE_TYPES, (50, 25, 20, 5))[0]
            points: float | None = None
            if issuetype.name != "Epic" and rng.random() < 0.8:
                points = float(rng.choice((1, 2, 3, 5, 8, 13)))
            labels = tuple(sorted(set(rng.sample(LABELS, rng.choice((0, 0, 1, 1, 2))))))
            self._insert(
                project,
                summary=f"{rng.choice(VERBS)} {rng.choice(NOUNS)}",
                status=status,
                issuetype=issuetype,
                priority=rng.choices(PRIORITIES, (5, 20, 50, 20, 5))[0],
                labels=labels,
                created=created,
                updated=updated,
                status_changed=changed,
                points=points,
                assignee=rng.choice(self.users) if rng.random() < 0.85 else None,
            )

    def _insert(
        self,
        project: Project,
        *,
        summary: str,
        status: Status,
        issuetype: Named,
        priority: Named,
        labels: tuple[str, ...],
        created: int,
        updated: int,
        status_changed: int,
        points: float | None,
        assignee: User | None,
    ) -> Issue:
        number = project.next_number
        project.next_number += 1
        issue = Issue(
            id=self._next_id,
            key=f"{project.key}-{number}",
            number=number,
            project=project,
            summary=summary,
            description=f"{summary}. Seeded by the sandbox.",
            status=status,
            issuetype=issuetype,
            priority=priority,
            labels=labels,
            created=created,
            updated=updated,
            resolved=status_changed if status.category is DONE else None,
            status_changed=status_changed,
            points=points,
            assignee=assignee,
        )
        self._next_id += 1
        self.issues[issue.id] = issue
        self.by_key[issue.key] = issue
        bisect.insort(self._by_updated, (issue.updated, issue.id))
        return issue

    # -- lookups -------------------------------------------------------------------------------

    def find(self, id_or_key: str) -> Issue | None:
        if id_or_key.isdigit():
            return self.issues.get(int(id_or_key))
        return self.by_key.get(id_or_key.upper())

    def project(self, value: str) -> Project | None:
        needle = value.strip().lower()
        for project in self.projects.values():
            if needle in (project.key.lower(), project.id, project.name.lower()):
                return project
        return None

    def require(self, id_or_key: str) -> Issue:
        issue = self.find(id_or_key)
        if issue is None:
            raise KeyError(f"no issue {id_or_key}")
        return issue

    # -- the site's clock ----------------------------------------------------------------------

    def now_ms(self) -> int:
        """The site's time: the real clock plus the time played ahead with :meth:`advance`."""
        return now_ms() + self.clock_offset_ms

    def advance(self, ms: int) -> int:
        """Move the site's clock ``ms`` ahead (never back); returns the new time."""
        if ms < 0:
            raise ValueError("the clock only moves forward")
        self.clock_offset_ms += ms
        return self.now_ms()

    def _when(self, at: int | None) -> int:
        """The time a change is stamped with: ``at`` (not later than now), else now."""
        now = self.now_ms()
        if at is None:
            return now
        if at > now:
            raise ValueError("a change cannot be stamped later than the site's clock")
        return at

    # -- changes -------------------------------------------------------------------------------

    def create(
        self,
        *,
        project: str,
        summary: str | None = None,
        status: str = "To Do",
        issuetype: str = "Story",
        story_points: float | None = None,
        labels: Iterable[str] = (),
        priority: str = "Medium",
        at: int | None = None,
    ) -> Change:
        target = self.project(project)
        if target is None:
            raise ValueError(f"no project {project}")
        when = self._when(at)
        issue = self._insert(
            target,
            summary=summary
            or f"{self.activity_rng.choice(VERBS)} {self.activity_rng.choice(NOUNS)}",
            status=_status(status),
            issuetype=_named(ISSUE_TYPES, issuetype, "issue type"),
            priority=_named(PRIORITIES, priority, "priority"),
            labels=tuple(sorted(set(labels))),
            created=when,
            updated=when,
            status_changed=when,
            points=None if story_points is None else float(story_points),
            assignee=None,
        )
        self._changed(issue)
        return Change("jira:issue_created", issue, [])

    def update(self, id_or_key: str, changes: dict[str, Any], *, at: int | None = None) -> Change:
        """Apply field changes given by name: status, summary, labels, story_points,
        issuetype, priority, project (a move)."""
        issue = self.require(id_or_key)
        allowed = {"status", "summary", "labels", "story_points", "issuetype", "priority"}
        unknown = set(changes) - allowed - {"project"}
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        items: list[dict[str, Any]] = []
        when = self._when(at)
        if "project" in changes:
            items += self._move(issue, str(changes["project"]))
        if "status" in changes:
            new = _status(str(changes["status"]))
            if new is not issue.status:
                items.append(_item("status", issue.status.id, issue.status.name, new.id, new.name))
                if new.category is not issue.status.category:
                    issue.status_changed = when
                if new.category is DONE and issue.resolved is None:
                    issue.resolved = when
                    items.append(_item("resolution", None, None, "10000", "Done"))
                elif new.category is not DONE and issue.resolved is not None:
                    issue.resolved = None
                    items.append(_item("resolution", "10000", "Done", None, None))
                issue.status = new
        if "summary" in changes:
            items.append(_item("summary", None, issue.summary, None, str(changes["summary"])))
            issue.summary = str(changes["summary"])
        if "labels" in changes:
            labels = tuple(sorted(set(changes["labels"])))
            items.append(_item("labels", None, " ".join(issue.labels), None, " ".join(labels)))
            issue.labels = labels
        if "story_points" in changes:
            value = changes["story_points"]
            points = None if value is None else float(value)
            items.append(
                _item(STORY_POINTS_NAME, None, _num(issue.points), None, _num(points), "custom")
            )
            issue.points = points
        if "issuetype" in changes:
            new_type = _named(ISSUE_TYPES, str(changes["issuetype"]), "issue type")
            items.append(
                _item(
                    "issuetype",
                    issue.issuetype.id,
                    issue.issuetype.name,
                    new_type.id,
                    new_type.name,
                )
            )
            issue.issuetype = new_type
        if "priority" in changes:
            new_priority = _named(PRIORITIES, str(changes["priority"]), "priority")
            items.append(
                _item(
                    "priority",
                    issue.priority.id,
                    issue.priority.name,
                    new_priority.id,
                    new_priority.name,
                )
            )
            issue.priority = new_priority
        self._unindex(issue)
        issue.touch(when)
        bisect.insort(self._by_updated, (issue.updated, issue.id))
        self._changed(issue)
        return Change("jira:issue_updated", issue, items)

    def _move(self, issue: Issue, project_key: str) -> list[dict[str, Any]]:
        target = self.project(project_key)
        if target is None:
            raise ValueError(f"no project {project_key}")
        if target is issue.project:
            return []
        old_project, old_key = issue.project, issue.key
        issue.old_keys.append(old_key)
        issue.project = target
        issue.number = target.next_number
        target.next_number += 1
        issue.key = f"{target.key}-{issue.number}"
        self.by_key[issue.key] = issue  # the old key keeps resolving, as in Jira
        return [
            _item("project", old_project.id, old_project.name, target.id, target.name),
            _item("Key", None, old_key, None, issue.key),
        ]

    def delete(self, id_or_key: str) -> Change:
        issue = self.require(id_or_key)
        del self.issues[issue.id]
        for key in (issue.key, *issue.old_keys):
            self.by_key.pop(key, None)
        self._unindex(issue)
        self._changed(issue)
        return Change("jira:issue_deleted", issue, [])

    # -- indexes -------------------------------------------------------------------------------

    def _unindex(self, issue: Issue) -> None:
        at = bisect.bisect_left(self._by_updated, (issue.updated, issue.id))
        if at < len(self._by_updated) and self._by_updated[at] == (issue.updated, issue.id):
            del self._by_updated[at]

    def _changed(self, issue: Issue) -> None:
        self.version += 1
        self._log.append((self.version, issue.id))
        if len(self._log) > LOG_LIMIT:
            drop = len(self._log) - LOG_LIMIT // 2
            self._log_floor = self._log[drop - 1][0]
            del self._log[:drop]

    def updated_since(self, ms: int) -> list[Issue]:
        """Issues whose ``updated`` is at least ``ms``, oldest update first."""
        start = bisect.bisect_left(self._by_updated, (ms, -1))
        return [self.issues[issue_id] for _, issue_id in self._by_updated[start:]]

    def changed_since(self, version: int) -> set[int] | None:
        """Ids of issues created, changed or deleted after ``version``; None when the log no
        longer reaches back that far."""
        if version < self._log_floor:
            return None
        start = bisect.bisect_right(self._log, (version, 1 << 62))
        return {issue_id for _, issue_id in self._log[start:]}

    def activity_step(self) -> list[Change]:
        """One step of simulated work: a few issues move along the workflow, sometimes one is
        filed. Seeded, so the sequence of changes is the same on every run."""
        rng = self.activity_rng
        changes: list[Change] = []
        open_issues = [i for i in self.issues.values() if i.status.category is not DONE]
        picks = min(len(open_issues), rng.randint(1, 3))
        for issue in rng.sample(open_issues, picks) if picks else []:
            following = STATUSES[min(issue.status.rank + 1, len(STATUSES) - 1)]
            changes.append(self.update(issue.key, {"status": following.name}))
        if not open_issues or rng.random() < 0.3:
            changes.append(
                self.create(
                    project=rng.choice(list(self.projects)),
                    issuetype=rng.choice(("Story", "Task", "Bug")),
                    story_points=float(rng.choice((1, 2, 3, 5, 8))),
                )
            )
        return changes


def _status(value: str) -> Status:
    needle = value.strip().lower()
    for status in STATUSES:
        if needle in (status.name.lower(), status.id):
            return status
    raise ValueError(f"no status {value}")


def _named(options: Sequence[Named], value: str, what: str) -> Named:
    needle = value.strip().lower()
    for option in options:
        if needle in (option.name.lower(), option.id):
            return option
    raise ValueError(f"no {what} {value}")


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def _item(
    name: str,
    from_id: str | None,
    from_string: str | None,
    to_id: str | None,
    to_string: str | None,
    fieldtype: str = "jira",
) -> dict[str, Any]:
    return {
        "field": name,
        "fieldtype": fieldtype,
        "from": from_id,
        "fromString": from_string,
        "to": to_id,
        "toString": to_string,
    }


def timedelta_ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)
