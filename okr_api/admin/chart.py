"""Geometry of a key result's history chart, computed server-side.

The template draws the SVG from these numbers, so the page needs no JavaScript charting library
and the chart is in the HTML the moment it arrives (printable, testable, readable by crawlers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

WIDTH = 720
HEIGHT = 280
MARGIN_LEFT = 64
MARGIN_RIGHT = 20
MARGIN_TOP = 16
MARGIN_BOTTOM = 36
TARGET_TICKS = 5


@dataclass(frozen=True, slots=True)
class Sample:
    """One check-in: when it was taken and the value it reported."""

    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    label: str  # what a hover tooltip says, e.g. "12 Aug 2026: 4,810 kEUR"


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: tuple[Point, ...]
    line_path: str
    area_path: str  # the region under the line, for a soft fill
    pace_path: str  # straight line from start to target over the period: the planned pace
    target_y: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]


def nice_step(span: float, ticks: int = TARGET_TICKS) -> float:
    """A 1, 2, 2.5 or 5 times a power of ten step giving about ``ticks`` gridlines."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude  # pragma: no cover (the loop always returns)


def build_line_chart(
    samples: Sequence[Sample],
    *,
    start_value: float,
    target_value: float,
    period_start: date,
    period_end: date,
    format_value: Callable[[float], str],
    format_tick: Callable[[float], str],
) -> LineChart:
    """Place check-ins on a time axis spanning the period (widened to fit every sample)."""
    ordered = sorted(samples, key=lambda s: s.at)
    x_min = datetime.combine(period_start, time.min, tzinfo=UTC)
    x_max = datetime.combine(period_end + timedelta(days=1), time.min, tzinfo=UTC)
    if ordered:
        x_min = min(x_min, ordered[0].at)
        x_max = max(x_max, ordered[-1].at)

    values = [start_value, target_value, *(s.value for s in ordered)]
    step = nice_step(max(values) - min(values))
    y_min = math.floor(min(values) / step) * step
    y_max = math.ceil(max(values) / step) * step
    if y_max == y_min:
        y_max = y_min + step

    left, right = float(MARGIN_LEFT), float(WIDTH - MARGIN_RIGHT)
    top, bottom = float(MARGIN_TOP), float(HEIGHT - MARGIN_BOTTOM)
    x_span = (x_max - x_min).total_seconds()

    def x_of(at: datetime) -> float:
        return round(left + (at - x_min).total_seconds() / x_span * (right - left), 1)

    def y_of(value: float) -> float:
        return round(bottom - (value - y_min) / (y_max - y_min) * (bottom - top), 1)

    points = tuple(
        Point(x_of(s.at), y_of(s.value), f"{s.at:%-d %b %Y}: {format_value(s.value)}")
        for s in ordered
    )
    line_path = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    area_path = f"{line_path} L{points[-1].x},{bottom} L{points[0].x},{bottom} Z" if points else ""
    pace_start = datetime.combine(period_start, time.min, tzinfo=UTC)
    pace_end = datetime.combine(period_end + timedelta(days=1), time.min, tzinfo=UTC)
    pace_path = f"M{x_of(pace_start)},{y_of(start_value)} L{x_of(pace_end)},{y_of(target_value)}"

    y_ticks = []
    count = round((y_max - y_min) / step)
    for i in range(count + 1):
        value = y_min + i * step
        y_ticks.append(Tick(y_of(value), format_tick(value)))

    x_ticks = []
    month = date(x_min.year, x_min.month, 1)
    if datetime.combine(month, time.min, tzinfo=UTC) < x_min:
        month = _next_month(month)
    while (moment := datetime.combine(month, time.min, tzinfo=UTC)) <= x_max:
        x_ticks.append(Tick(x_of(moment), f"{month:%-d %b}"))
        month = _next_month(month)

    return LineChart(
        width=WIDTH,
        height=HEIGHT,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        points=points,
        line_path=line_path,
        area_path=area_path,
        pace_path=pace_path,
        target_y=y_of(target_value),
        x_ticks=tuple(x_ticks),
        y_ticks=tuple(y_ticks),
    )


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
