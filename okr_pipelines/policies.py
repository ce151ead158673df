"""Retry policies: exactly one layer per kind of failure.

- Source errors (timeouts, resets, 429, 5xx) are retried per request inside okr_core
  (:data:`SOURCE_RETRY`: exponential backoff with full jitter, Retry-After honoured, bounded),
  with the vendor libraries' own retries switched off. Permanent errors are never retried.
- :data:`BATCH_INFRA_RETRY` retries a whole step only for infrastructure failures (the app
  database or the warehouse disk unavailable). Steps raise ``Failure(allow_retries=False)``
  for source failures, so those never reach it; the instance's run retries are configured with
  ``retry_on_asset_or_op_failure: false`` so nothing retries twice.
"""

from dagster import Backoff, Jitter, RetryPolicy

from okr_core.sources.retry import RetryPolicy as SourceRetryPolicy

SOURCE_RETRY = SourceRetryPolicy(
    max_attempts=6, base_delay=0.5, max_delay=30.0, max_retry_after=120.0, budget=300.0
)

BATCH_INFRA_RETRY = RetryPolicy(
    max_retries=2, delay=20, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
