"""The one place where a key result's progress and health are derived from its values."""

from __future__ import annotations

from enum import StrEnum

from okr_core.models.key_result import Direction


class Health(StrEnum):
    done = "done"
    on_track = "on_track"
    at_risk = "at_risk"
    off_track = "off_track"


# How far behind the elapsed share of the period a KR may be before it is at risk / off track.
AT_RISK_GAP = 0.10
OFF_TRACK_GAP = 0.25


def progress(*, start: float, target: float, current: float, direction: Direction) -> float:
    """Share of the way from start to target, clamped to [0, 1]."""
    span = target - start
    if span == 0:
        reached = current >= target if direction is Direction.increase else current <= target
        return 1.0 if reached else 0.0
    moved = current - start
    return min(1.0, max(0.0, moved / span))


def health(progress_fraction: float, elapsed_fraction: float) -> Health:
    """Compare progress with how much of the period has gone."""
    if progress_fraction >= 1.0:
        return Health.done
    gap = elapsed_fraction - progress_fraction
    if gap <= AT_RISK_GAP:
        return Health.on_track
    if gap <= OFF_TRACK_GAP:
        return Health.at_risk
    return Health.off_track
