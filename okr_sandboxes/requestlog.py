"""What a sandbox site served: counts per route and status, records served, the last requests.

Tests read it through ``GET {base_url}/_sandbox/requests`` to prove, for example, that a second
sync fetched only the changed issues (``items_served``) or that a 401 caused no retry storm
(``by_status``). ``DELETE`` on the same path starts a new count.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestLog:
    keep: int = 500
    total: int = 0
    items_served: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    recent: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.keep)

    def record(
        self, *, method: str, route: str, path: str, query: str, status: int, items: int
    ) -> None:
        self.total += 1
        self.items_served += items
        self.by_route[f"{method} {route}"] += 1
        self.by_status[status] += 1
        self.recent.append(
            {"method": method, "path": path, "query": query, "status": status, "items": items}
        )

    def reset(self) -> None:
        self.total = 0
        self.items_served = 0
        self.by_route.clear()
        self.by_status.clear()
        self.recent.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "items_served": self.items_served,
            "by_route": dict(self.by_route),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "recent": list(self.recent),
        }
