"""Server-side chart geometry: the overview's "changes since last week" stacked columns as plain numbers.

The template draws them as inline SVG ``<rect>`` elements, so the chart needs no script, no image request
and nothing that a content-security policy of ``script-src 'none'`` would block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from mlvet.server.dashboard.queries import CHANGE_KINDS


@dataclass
class Segment:
    """One change kind's part of a day's column."""

    kind: str
    n: int
    y: float
    h: float


@dataclass
class Column:
    """One day."""

    day: str
    label: str
    x: float
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Chart:
    """The whole chart: size, axis ticks (y, label), columns and the total per change kind."""

    width: int
    height: int
    left: int
    bar: float
    ticks: list[tuple[float, str]]
    columns: list[Column]
    totals: dict[str, int]


def _nice_max(n: int) -> int:
    """The axis maximum: four equal whole steps of 1, 2 or 5 times a power of ten covering ``n``."""
    if n <= 4:
        return 4
    quarter = -(-n // 4)
    power: int = 10 ** math.floor(math.log10(quarter))
    for step in (1, 2, 5, 10):
        if step * power >= quarter:
            return int(4 * step * power)
    return int(40 * power)  # pragma: no cover - the loop always returns


def changes_chart(days: Sequence[tuple[str, dict[str, int]]], width: int = 100, height: int = 200) -> Chart:
    """Stacked columns, one per day, in the order of :data:`~mlvet.server.dashboard.queries.CHANGE_KINDS`.

    Horizontal positions are percentages of the chart's width and vertical ones pixels, so the SVG
    stretches to any screen width while its text keeps its size (a scaled viewBox would shrink the labels
    to nothing on a phone).
    """
    left, bottom, top = 7, 22, 8
    plot_h = height - bottom - top
    slot = (width - left) / max(1, len(days))
    bar = round(slot * 0.6, 1)
    peak = _nice_max(max((sum(c.values()) for _d, c in days), default=0))
    ticks = [(round(top + plot_h - plot_h * i / 4, 1), str(peak * i // 4)) for i in range(5)]
    columns = []
    totals = dict.fromkeys(CHANGE_KINDS, 0)
    for i, (day, counts) in enumerate(days):
        x = round(left + slot * i + (slot - bar) / 2, 1)
        label = date.fromisoformat(day).strftime("%a %d")
        col = Column(day, label, x)
        base: float = top + plot_h
        for kind in CHANGE_KINDS:
            n = counts.get(kind, 0)
            totals[kind] += n
            if n <= 0:
                continue
            h = round(plot_h * n / peak, 1)
            base -= h
            col.segments.append(Segment(kind, n, round(base, 1), h))
        columns.append(col)
    return Chart(width, height, left, bar, ticks, columns, totals)
