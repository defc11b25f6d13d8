"""Geometry for the dashboard's server-rendered SVG charts (no JavaScript, no inline style)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x or y in the SVG's user units
    label: str


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css_class: str
    points: str  # "x,y x,y …" for <polyline points>
    last: int


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int
    left: int
    bottom: int
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 x 10^n at or above ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def progress_chart(
    points: Sequence[Sequence], *, width: int = 640, height: int = 220
) -> LineChart | None:
    """A line chart of cumulative answers and complete segments over time.

    ``points`` are ``[iso time, answers, complete segments]`` as ``reports._timeline`` makes
    them. ``None`` when there is nothing to draw.
    """
    if not points:
        return None
    left, right, top, bottom = 56, 12, 10, height - 28
    top_value = _nice_ceiling(max(max(p[1], p[2]) for p in points) or 1)
    times = [datetime.fromisoformat(p[0]).timestamp() for p in points]
    start, end = times[0], times[-1]
    span = (end - start) or 1.0

    def x(moment: float) -> float:
        if len(points) == 1:
            return float(width - right)
        return left + (moment - start) / span * (width - left - right)

    def y(value: int) -> float:
        return bottom - value / top_value * (bottom - top)

    def line(column: int) -> str:
        coords = [(x(t), y(p[column])) for t, p in zip(times, points, strict=True)]
        if len(coords) == 1:  # one bucket: a flat line from the axis, so it is visible
            coords.insert(0, (float(left), coords[0][1]))
        return " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)

    span_days = (end - start) / 86_400
    fmt = "%H:%M" if span_days < 2 else "%d %b"
    picks = sorted({0, len(points) // 2, len(points) - 1})
    return LineChart(
        width=width,
        height=height,
        left=left,
        bottom=bottom,
        series=[
            Series("Submitted answers", "series-answers", line(1), points[-1][1]),
            Series("Complete segments", "series-complete", line(2), points[-1][2]),
        ],
        x_ticks=[
            Tick(x(times[i]), datetime.fromisoformat(points[i][0]).strftime(fmt)) for i in picks
        ],
        y_ticks=[Tick(y(v), f"{v:,}") for v in (0, top_value // 2, top_value)],
    )


@dataclass(frozen=True, slots=True)
class Bar:
    name: str
    color: str
    count: int
    share: float  # of all submitted answers
    width: float  # in the SVG's user units


def bar_rows(counts: Sequence[tuple[str, str, int]], *, total: int, width: int = 300) -> list[Bar]:
    """Horizontal bars scaled to the largest count; ``counts`` are (name, colour, count)."""
    largest = max((count for _, _, count in counts), default=0) or 1
    return [
        Bar(
            name=name,
            color=color,
            count=count,
            share=count / total if total else 0.0,
            width=round(count / largest * width, 1),
        )
        for name, color, count in counts
    ]
