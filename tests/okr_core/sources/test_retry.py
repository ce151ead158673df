"""The one retry layer: bounded, exponential with jitter, Retry-After honoured, permanent never."""

from __future__ import annotations

import random

import pytest

from okr_core.sources.errors import PermanentSourceError, TransientSourceError
from okr_core.sources.retry import Retrier, RetryPolicy


def flaky(failures: list[Exception]) -> tuple[list[int], object]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return calls, call


def test_transient_errors_are_retried_with_growing_jittered_waits() -> None:
    waits: list[float] = []
    retrier = Retrier(
        policy=RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0),
        sleep=waits.append,
        rng=random.Random(7),
    )
    calls, call = flaky([TransientSourceError("503")] * 4)
    assert retrier.call("page", call) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 5
    assert retrier.retries == 4
    ceilings = [1.0, 2.0, 4.0, 8.0]
    assert all(0 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert len(set(waits)) == 4  # jittered, not lock-step


def test_retry_after_is_a_floor_for_the_wait() -> None:
    waits: list[float] = []
    retrier = Retrier(policy=RetryPolicy(base_delay=0.01), sleep=waits.append)
    _calls, call = flaky([TransientSourceError("429", status=429, retry_after=7.0)])
    assert retrier.call("page", call) == "ok"  # type: ignore[arg-type]
    assert waits[0] >= 7.0


def test_attempts_are_bounded() -> None:
    retrier = Retrier(policy=RetryPolicy(max_attempts=3), sleep=lambda _: None)
    calls, call = flaky([TransientSourceError("500")] * 10)
    with pytest.raises(TransientSourceError, match="gave up after 3 attempts"):
        retrier.call("page", call)  # type: ignore[arg-type]
    assert len(calls) == 3


def test_the_budget_bounds_the_total_wait() -> None:
    retrier = Retrier(
        policy=RetryPolicy(max_attempts=50, base_delay=10, max_delay=10, budget=25),
        sleep=lambda _: None,
        rng=random.Random(1),
    )
    _calls, call = flaky([TransientSourceError("500")] * 50)
    with pytest.raises(TransientSourceError, match="budget"):
        retrier.call("page", call)  # type: ignore[arg-type]
    assert retrier.waited <= 25


def test_a_retry_after_beyond_the_bound_fails_at_once() -> None:
    retrier = Retrier(policy=RetryPolicy(max_retry_after=60), sleep=lambda _: None)
    calls, call = flaky([TransientSourceError("429", retry_after=3600)])
    with pytest.raises(TransientSourceError):
        retrier.call("page", call)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_permanent_errors_are_never_retried() -> None:
    retrier = Retrier(sleep=lambda _: None)
    calls, call = flaky([PermanentSourceError("401")])
    with pytest.raises(PermanentSourceError):
        retrier.call("page", call)  # type: ignore[arg-type]
    assert len(calls) == 1
