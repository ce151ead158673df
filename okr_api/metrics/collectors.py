"""The API's Prometheus metrics, defined once per process.

Under several uvicorn workers, ``okr-hub serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before the workers start, so prometheus_client keeps each worker's values in a file
there and ``GET /metrics`` (answered by any one worker) adds them up. Only counters and
histograms are used: they need no per-process bookkeeping when a worker exits (its totals stay
in the sum, as a counter's should).

Label values are bounded: route templates (``/api/v1/public/objectives/{objective_id}``), HTTP
status codes and rate-limit policy names, never keys, tenants or addresses.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RATE_LIMIT_FAIL_OPEN = Counter(
    "okr_public_api_rate_limit_fail_open",
    "Public API requests whose rate limits were counted in this process's memory because the "
    "shared Redis storage failed or was being retried (fail open).",
)
RATE_LIMITED = Counter(
    "okr_public_api_rate_limited",
    "Public API requests refused with 429, by the policy that was exceeded "
    "(key, tenant or anonymous).",
    ["policy"],
)
REQUESTS = Counter(
    "okr_public_api_requests",
    "Public API responses by route template and HTTP status.",
    ["route", "status"],
)
REQUEST_DURATION = Histogram(
    "okr_public_api_request_duration_seconds",
    "Time to answer a public API request, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
USAGE_FLUSH_FAILURES = Counter(
    "okr_public_api_usage_flush_failures",
    "Failed writes of aggregated API usage to the database (the usage is kept and retried).",
)
