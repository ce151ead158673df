"""Fault injection: a seeded share of vendor responses fails the way the vendor fails.

One :class:`FaultInjector` per sandbox site draws one number per vendor API request from a
``random.Random`` seeded with the configured seed, so the same sequence of requests meets the
same faults on every run. Setting a configuration (at start or through ``POST
{base_url}/_sandbox/faults``) restarts the sequence. Admin requests under ``/_sandbox`` never
fail.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class FaultConfig:
    """Which share of vendor API responses fails, and how.

    ``rate_limited`` and ``server_errors`` are fractions of requests (together at most 1): the
    first answers 429 with ``Retry-After: retry_after``, the second cycles through
    ``error_statuses``. ``slow`` is the fraction of requests delayed by ``delay`` seconds
    before they are answered (a delayed request can still fail). ``unauthorized`` answers
    every request 401, like a revoked credential. ``paths``, when given, limits faults to
    request paths containing one of the substrings (e.g. ``("search/jql",)``).
    """

    rate_limited: float = 0.0
    retry_after: int = 1
    server_errors: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    slow: float = 0.0
    delay: float = 0.0
    unauthorized: bool = False
    seed: str = "faults"
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("rate_limited", "server_errors", "slow"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value}")
        if self.rate_limited + self.server_errors > 1.0:
            raise ValueError("rate_limited + server_errors must not exceed 1")
        if self.retry_after < 0 or self.delay < 0:
            raise ValueError("retry_after and delay must not be negative")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ValueError("error_statuses must be a non-empty list of 5xx codes")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from a JSON object; unknown keys are an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        values: dict[str, Any] = dict(data)
        for name in ("error_statuses", "paths"):
            if name in values:
                values[name] = tuple(values[name])
        try:
            return cls(**values)
        except TypeError as exc:  # a wrongly typed value
            raise ValueError(str(exc)) from exc

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        data["paths"] = list(self.paths)
        return data

    @property
    def active(self) -> bool:
        return bool(self.rate_limited or self.server_errors or self.slow or self.unauthorized)


@dataclass(frozen=True)
class Fault:
    """What to do with one request: wait ``delay`` seconds, then answer ``status`` (if any)."""

    delay: float = 0.0
    status: int | None = None
    retry_after: int | None = None


NO_FAULT = Fault()


@dataclass
class FaultInjector:
    config: FaultConfig = field(default_factory=FaultConfig)
    injected: Counter[str] = field(default_factory=Counter)
    _rng: random.Random = field(init=False, repr=False)
    _error_turn: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.configure(self.config)

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(f"faults:{config.seed}")
        self._error_turn = 0
        self.injected = Counter()

    def decide(self, path: str) -> Fault:
        config = self.config
        if not config.active:
            return NO_FAULT
        if config.paths and not any(p in path for p in config.paths):
            return NO_FAULT
        draw, slow_draw = self._rng.random(), self._rng.random()
        delay = config.delay if slow_draw < config.slow else 0.0
        if delay:
            self.injected["slow"] += 1
        if config.unauthorized:
            self.injected["401"] += 1
            return Fault(delay=delay, status=401)
        if draw < config.rate_limited:
            self.injected["429"] += 1
            return Fault(delay=delay, status=429, retry_after=config.retry_after)
        if draw < config.rate_limited + config.server_errors:
            status = config.error_statuses[self._error_turn % len(config.error_statuses)]
            self._error_turn += 1
            self.injected[str(status)] += 1
            return Fault(delay=delay, status=status)
        return Fault(delay=delay) if delay else NO_FAULT

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config.to_json(), "injected": dict(self.injected)}
