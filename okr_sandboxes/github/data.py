"""Seeded GitHub data of one site: an owner, its repositories and their pull requests.

Same seed, same data; timestamps fall in the ``history_days`` before the ``anchor`` (by default
the start of the current UTC day); later changes stamp the real clock.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DAY_MS = 86_400_000
TITLES = (
    "Add retry to webhook sender",
    "Fix flaky pagination test",
    "Bump dependencies",
    "Refactor billing service",
    "Speed up search indexing",
    "Document SCIM setup",
    "Remove dead feature flag",
    "Improve login error message",
    "Migrate charts to new library",
    "Harden rate limiter",
)
LOGINS = ("octo-ada", "octo-grace", "octo-linus", "octo-ken", "octo-barbara", "octo-donald")


def now_ms() -> int:
    return int(time.time() * 1000)


def start_of_today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def gh_time(ms: int | None) -> str | None:
    """``2011-01-26T19:01:12Z``."""
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


@dataclass(frozen=True)
class Account:
    login: str
    id: int
    type: str = "User"  # or Organization


@dataclass(eq=False, slots=True)
class Pull:
    id: int
    number: int
    repo: Repo
    title: str
    user: Account
    state: str  # open, closed
    draft: bool
    created: int
    updated: int
    closed: int | None
    merged: int | None
    head_ref: str
    head_sha: str
    base_ref: str
    merge_commit_sha: str | None
    rendered: dict[tuple[Any, ...], bytes] = field(default_factory=dict)

    def touch(self, at: int) -> None:
        self.updated = max(at, self.updated + 1000)  # GitHub stamps whole seconds
        self.rendered.clear()


@dataclass(eq=False)
class Repo:
    id: int
    name: str
    owner: Account
    created: int
    pulls: dict[int, Pull] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


@dataclass
class PullChange:
    action: str  # opened, closed, edited, reopened
    pull: Pull

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "repo": self.pull.repo.full_name,
            "number": self.pull.number,
            "merged": self.pull.merged is not None,
        }


class GitHubData:
    def __init__(
        self,
        *,
        seed: str,
        owner: str = "acme",
        repos: Sequence[str] = ("api", "web"),
        pulls: int = 60,
        anchor: datetime | None = None,
        history_days: int = 120,
        viewer: str = "sandbox-bot",
    ) -> None:
        if pulls < 0:
            raise ValueError("pulls must not be negative")
        self.seed = seed
        self.anchor = anchor or start_of_today()
        self.history_days = history_days
        self.version = 0
        self._rng = random.Random(f"github:{seed}")
        self.activity_rng = random.Random(f"github-activity:{seed}")
        self.owner = Account(owner, self._id(1), "Organization")
        self.viewer = Account(viewer, self._id(2))
        self.authors = [Account(login, self._id(10 + i)) for i, login in enumerate(LOGINS)]
        self.repos: dict[str, Repo] = {}
        end = int(self.anchor.timestamp() * 1000)
        start = end - history_days * DAY_MS
        for index, name in enumerate(repos):
            if name.lower() in self.repos:
                raise ValueError(f"duplicate repository {name}")
            self.repos[name.lower()] = Repo(self._id(100 + index), name, self.owner, start)
        self._next_pull_id = self._id(1000)
        for _ in range(pulls):
            repo = self._rng.choice(list(self.repos.values()))
            created = start + int(self._rng.random() * (end - start))
            self._generate_pull(repo, created, end)

    def _id(self, n: int) -> int:
        """Ids differ per seed, as two real accounts' ids do."""
        salt = int(hashlib.sha256(self.seed.encode()).hexdigest()[:6], 16)
        return salt * 10_000 + n

    def _sha(self) -> str:
        return "%040x" % self._rng.getrandbits(160)  # noqa: UP031

    def _generate_pull(self, repo: Repo, created: int, end: int) -> Pull:
        rng = self._rng
        fate = rng.random()
        state, merged, closed = "open", None, None
        age = end - created
        if fate < (0.8 if age > 14 * DAY_MS else 0.45):
            closed = created + int(rng.random() * min(age, 10 * DAY_MS))
            merged = closed
            state = "closed"
        elif fate < 0.9:
            closed = created + int(rng.random() * age)
            state = "closed"
        updated = closed if closed is not None else created + int(rng.random() * age)
        return self._insert(
            repo,
            title=rng.choice(TITLES),
            user=rng.choice(self.authors),
            state=state,
            draft=state == "open" and rng.random() < 0.15,
            created=created,
            updated=updated,
            closed=closed,
            merged=merged,
        )

    def _insert(
        self,
        repo: Repo,
        *,
        title: str,
        user: Account,
        state: str,
        draft: bool,
        created: int,
        updated: int,
        closed: int | None,
        merged: int | None,
    ) -> Pull:
        number = repo.next_number
        repo.next_number += 1
        pull = Pull(
            id=self._next_pull_id,
            number=number,
            repo=repo,
            title=title,
            user=user,
            state=state,
            draft=draft,
            created=created - created % 1000,
            updated=updated - updated % 1000,
            closed=None if closed is None else closed - closed % 1000,
            merged=None if merged is None else merged - merged % 1000,
            head_ref=f"feature/{number}-{title.split()[0].lower()}",
            head_sha=self._sha(),
            base_ref="main",
            merge_commit_sha=self._sha() if merged is not None else None,
        )
        self._next_pull_id += 1
        repo.pulls[number] = pull
        return pull

    # -- lookups -------------------------------------------------------------------------------

    def repo(self, owner: str, name: str) -> Repo | None:
        if owner.lower() != self.owner.login.lower():
            return None
        return self.repos.get(name.lower())

    def require(self, name: str, number: int) -> Pull:
        repo = self.repos.get(name.lower())
        if repo is None:
            raise KeyError(f"no repository {name}")
        pull = repo.pulls.get(number)
        if pull is None:
            raise KeyError(f"no pull request {name}#{number}")
        return pull

    def all_pulls(self) -> list[Pull]:
        return [p for r in self.repos.values() for p in r.pulls.values()]

    # -- changes -------------------------------------------------------------------------------

    def add_repo(self, name: str) -> Repo:
        if name.lower() in self.repos:
            raise ValueError(f"repository {name} exists already")
        repo = Repo(self._id(100 + len(self.repos)), name, self.owner, now_ms())
        self.repos[name.lower()] = repo
        self.version += 1
        return repo

    def open(
        self, repo_name: str, *, title: str | None = None, author: str | None = None
    ) -> PullChange:
        repo = self.repos.get(repo_name.lower())
        if repo is None:
            raise KeyError(f"no repository {repo_name}")
        when = now_ms()
        user = next(
            (a for a in self.authors if a.login == author), None
        ) or self.activity_rng.choice(self.authors)
        pull = self._insert(
            repo,
            title=title or self.activity_rng.choice(TITLES),
            user=user,
            state="open",
            draft=False,
            created=when,
            updated=when,
            closed=None,
            merged=None,
        )
        self.version += 1
        return PullChange("opened", pull)

    def update(self, repo_name: str, number: int, changes: dict[str, Any]) -> PullChange:
        """``state`` (open/closed), ``merged`` (true merges an open PR), ``title``."""
        pull = self.require(repo_name, number)
        unknown = set(changes) - {"state", "merged", "title"}
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        when = now_ms()
        when -= when % 1000
        action = "edited"
        if changes.get("merged"):
            if pull.merged is not None:
                raise ValueError(f"pull request {repo_name}#{number} is merged already")
            pull.state, pull.merged, pull.closed = "closed", when, when
            pull.merge_commit_sha = self._sha()
            action = "closed"
        elif "state" in changes and changes["state"] != pull.state:
            if changes["state"] == "closed":
                pull.state, pull.closed = "closed", when
                action = "closed"
            elif changes["state"] == "open":
                if pull.merged is not None:
                    raise ValueError("a merged pull request cannot be reopened")
                pull.state, pull.closed = "open", None
                action = "reopened"
            else:
                raise ValueError("state must be open or closed")
        if "title" in changes:
            pull.title = str(changes["title"])
        pull.touch(when)
        self.version += 1
        return PullChange(action, pull)

    def activity_step(self) -> list[PullChange]:
        """Some open pull requests get merged or closed, sometimes one is opened."""
        rng = self.activity_rng
        changes: list[PullChange] = []
        open_pulls = [p for p in self.all_pulls() if p.state == "open"]
        if open_pulls:
            pull = rng.choice(open_pulls)
            fate = rng.random()
            if fate < 0.6:
                changes.append(self.update(pull.repo.name, pull.number, {"merged": True}))
            elif fate < 0.7:
                changes.append(self.update(pull.repo.name, pull.number, {"state": "closed"}))
            else:
                changes.append(
                    self.update(pull.repo.name, pull.number, {"title": pull.title + " (updated)"})
                )
        if (not open_pulls or rng.random() < 0.5) and self.repos:
            changes.append(self.open(rng.choice(list(self.repos.values())).name))
        return changes
