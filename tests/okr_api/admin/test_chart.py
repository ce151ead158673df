"""The server-side history chart's geometry and the numbers admin pages print."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from okr_api.admin.chart import LineChart, Sample, build_line_chart, nice_step
from okr_api.admin.formatting import initials, number, quantity

Q3 = (date(2025, 7, 1), date(2025, 9, 30))


def _chart(samples: list[Sample], *, start: float = 0, target: float = 100) -> LineChart:
    return build_line_chart(
        samples,
        start_value=start,
        target_value=target,
        period_start=Q3[0],
        period_end=Q3[1],
        format_value=lambda v: quantity(v, "%"),
        format_tick=number,
    )


@pytest.mark.parametrize(
    ("span", "step"), [(100, 20), (1400, 500), (120, 25), (8, 2), (0.7, 0.2), (0, 1.0), (37, 10)]
)
def test_nice_step_gives_round_gridlines(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_points_sit_inside_the_plot_in_time_order() -> None:
    samples = [
        Sample(datetime(2025, 9, 1, tzinfo=UTC), 70),
        Sample(datetime(2025, 7, 1, tzinfo=UTC), 10),
        Sample(datetime(2025, 8, 1, tzinfo=UTC), 40),
    ]
    chart = _chart(samples)
    assert len(chart.points) == 3
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs)
    assert xs[0] == chart.left  # the period's first day is the axis' start
    for p in chart.points:
        assert chart.left <= p.x <= chart.right
        assert chart.top <= p.y <= chart.bottom
    assert chart.points[0].label == "1 Jul 2025: 10%"
    assert chart.line_path.startswith(f"M{xs[0]},")
    assert chart.line_path.count("L") == 2
    # The target (100) is the top gridline; the start (0) the bottom one.
    assert chart.target_y == chart.top
    assert [t.label for t in chart.y_ticks] == ["0", "20", "40", "60", "80", "100"]
    assert [t.label for t in chart.x_ticks] == ["1 Jul", "1 Aug", "1 Sep", "1 Oct"]


def test_values_beyond_the_target_widen_the_axis() -> None:
    chart = _chart([Sample(datetime(2025, 8, 1, tzinfo=UTC), 130)])
    assert chart.top < chart.points[0].y < chart.target_y
    assert chart.y_ticks[-1].label == "150"


def test_decreasing_key_result_keeps_start_at_the_top() -> None:
    chart = _chart([Sample(datetime(2025, 8, 1, tzinfo=UTC), 3)], start=4, target=2)
    assert chart.target_y == chart.bottom
    assert chart.pace_path.startswith(f"M{chart.left},{chart.top}")


@pytest.mark.parametrize(
    ("value", "text"), [(5600, "5,600"), (97.1, "97.1"), (3.25, "3.25"), (-2.0, "-2"), (0.004, "0")]
)
def test_numbers_show_decimals_only_when_they_have_them(value: float, text: str) -> None:
    assert number(value) == text


def test_units_follow_the_number() -> None:
    assert quantity(55, "%") == "55%"
    assert quantity(5600, "kEUR") == "5,600 kEUR"
    assert quantity(3, "") == "3"


@pytest.mark.parametrize(("name", "text"), [("Ada Okafor", "AO"), ("Chen", "CH"), ("", "?")])
def test_initials(name: str, text: str) -> None:
    assert initials(name) == text
