"""The dashboard's charts: SVG written here, from the same :class:`~pixie.analytics.Summary` as the cards.

The page draws every chart inline from the one summary it computed, so cards and charts always show one snapshot.
Only the horizontal axis scales with the page: heights, gaps and text are in CSS pixels (text never below 12 px),
bars and time ticks are placed in percentages of the plot's width, so a chart is as readable at 390 px as at
1,440 px. Count axes have whole-number ticks; time ticks fall on round times (quarter hours, three hours, midnights,
UTC) whatever the window's alignment, and every other one is marked ``minor`` so that narrow screens can hide it
(``pixie.css``). A chart with nothing to show says so instead of drawing empty axes.

The page's policy forbids inline styles, so everything is an SVG attribute; the same drawing, with a title and a
legend, is served alone at ``/admin/charts/{name}.svg`` (:func:`render_chart`) for saving and sharing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from pixie.analytics import Summary

__all__ = ["CHART_NAMES", "Chart", "Series", "dashboard_charts", "integer_ticks", "render_chart", "time_ticks"]

PRIMARY = "#4338ca"  # indigo: what went right
DANGER = "#c2410c"  # orange-red: what went wrong (distinguishable from indigo for common colour blindness)
GRID = "#e5e7eb"
AXIS_TEXT = "#4b5563"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
FONT_SIZE = 12

_PLOT_HEIGHT = 180  # px of the bars' area in a time chart
_TOP = 10
_AXIS_BAND = 24  # px under the plot for the time labels
_Y_AXIS_WIDTH = 40
_ROW = 40  # px per row of a horizontal bar chart
_EDGE = 0.06  # share of the width at either end where time labels are left out (their ticks stay)


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Chart:
    """One drawn chart. ``plot`` (and, for a time chart, ``y_axis``) is SVG content sized ``height`` px tall and as
    wide as its box; ``empty`` says it shows the no-data message instead of bars."""

    name: str
    title: str
    legend: tuple[tuple[str, str], ...]
    height: int
    plot: str
    y_axis: str | None
    empty: bool

    def html(self) -> str:
        """The chart for the page: inline SVG (a time chart's y axis in a column of its own)."""
        plot = f'<svg class="plot" width="100%" height="{self.height}" aria-hidden="true">{self.plot}</svg>'
        if self.y_axis is None:
            return plot
        axis = (
            f'<svg class="y-axis" width="{_Y_AXIS_WIDTH}" height="{self.height}" aria-hidden="true">{self.y_axis}</svg>'
        )
        return f'<div class="time-chart">{axis}{plot}</div>'


def integer_ticks(largest: int, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 to at least ``largest``, in steps of 1, 2 or 5 × 10ⁿ, at most ``most`` + 1 of them."""
    if largest <= 0:
        return [0, 1]
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if math.ceil(largest / step) <= most:
                return list(range(0, math.ceil(largest / step) * step + 1, step))
        magnitude *= 10


def time_ticks(since: float, until: float) -> list[tuple[float, str, bool]]:
    """Round times inside ``[since, until]`` as (position 0..1, label, major): quarter hours for an hour, every
    three hours for a day (midnight labelled with the date), midnights for a week. Every other tick is minor."""
    span = until - since
    start = datetime.fromtimestamp(since, UTC)
    if span <= 2 * 3600:
        step = timedelta(minutes=15)
        first = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    elif span <= 2 * 86400:
        step = timedelta(hours=3)
        first = start.replace(hour=start.hour - start.hour % 3, minute=0, second=0, microsecond=0)
    else:
        step = timedelta(days=1)
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    ticks: list[tuple[float, str, bool]] = []
    moment = first
    while moment.timestamp() <= until:
        if moment.timestamp() >= since:
            daily = step == timedelta(days=1) or (step == timedelta(hours=3) and moment.hour == 0)
            label = f"{moment:%a} {moment.day}" if daily else f"{moment:%H:%M}"
            ticks.append(((moment.timestamp() - since) / span, label, len(ticks) % 2 == 0))
        moment += step
    return ticks


def _text(
    x: str,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    weight: str = "normal",
    fill: str = AXIS_TEXT,
    css: str = "",
) -> str:
    klass = f' class="{css}"' if css else ""
    return (
        f'<text x="{x}" y="{y:g}" text-anchor="{anchor}" font-size="{FONT_SIZE}" font-weight="{weight}"'
        f' fill="{fill}"{klass}>{escape(content)}</text>'
    )


def _pct(value: float) -> str:
    return f"{value * 100:.3f}%"


def _empty_plot(message: str, height: int) -> str:
    return f'<line x1="0" x2="100%" y1="{height - 1}" y2="{height - 1}" stroke="{GRID}"/>' + _text(
        "50%", height / 2, message, anchor="middle", css="empty"
    )


def _time_chart(name: str, title: str, summary: Summary, series: Sequence[Series], empty_message: str) -> Chart:
    """A stacked bar chart over the summary's buckets, with an integer count axis and round-time ticks."""
    n = len(summary.buckets)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    height = _TOP + _PLOT_HEIGHT + _AXIS_BAND
    base = _TOP + _PLOT_HEIGHT
    empty = not any(totals)
    axis: list[str] = []
    plot: list[str] = []
    if empty:
        plot.append(_empty_plot(empty_message, base))
    else:
        ticks = integer_ticks(max(totals))
        top = ticks[-1]
        for tick in ticks:
            y = base - _PLOT_HEIGHT * tick / top
            plot.append(f'<line x1="0" x2="100%" y1="{y:g}" y2="{y:g}" stroke="{GRID}"/>')
            axis.append(_text(str(_Y_AXIS_WIDTH - 6), y + 4, str(tick), anchor="end"))
        slot = 1 / n
        for i in range(n):
            bottom = float(base)
            for s in series:
                value = s.values[i]
                if not value:
                    continue
                h = _PLOT_HEIGHT * value / top
                bottom -= h
                plot.append(
                    f'<rect x="{_pct(i * slot + slot * 0.15)}" y="{bottom:g}" width="{_pct(slot * 0.7)}"'
                    f' height="{h:g}" fill="{s.color}"><title>{escape(s.name)}: {value}</title></rect>'
                )
    for position, label, major in time_ticks(summary.since, summary.until):
        x = _pct(position)
        plot.append(f'<line x1="{x}" x2="{x}" y1="{base}" y2="{base + 4}" stroke="{AXIS_TEXT}"/>')
        if _EDGE <= position <= 1 - _EDGE:  # a centred label this near an edge would stick out of the chart
            plot.append(_text(x, base + 18, label, anchor="middle", css="tick" if major else "tick minor"))
    legend = tuple((s.name, s.color) for s in series)
    # An empty chart has no count axis: its message takes the whole width.
    return Chart(name, title, legend, height, "".join(plot), None if empty else "".join(axis), empty)


def _bar_rows(name: str, title: str, rows: Sequence[tuple[str, int]], color: str, empty_message: str) -> Chart:
    """A horizontal bar chart: each row's label and count on one line, its bar under it."""
    largest = max((count for _, count in rows), default=0)
    if largest == 0:
        return Chart(name, title, (), _ROW * 2, _empty_plot(empty_message, _ROW * 2), None, True)
    parts: list[str] = []
    for index, (label, count) in enumerate(rows):
        top = index * _ROW
        parts.append(_text("0", top + 14, label))
        parts.append(_text("100%", top + 14, str(count), anchor="end", weight="600", fill="#111827"))
        parts.append(f'<rect x="0" y="{top + 20}" width="100%" height="10" rx="3" fill="{GRID}"/>')
        if count:
            parts.append(
                f'<rect x="0" y="{top + 20}" width="{_pct(count / largest)}" height="10" rx="3" fill="{color}">'
                f"<title>{escape(label)}: {count}</title></rect>"
            )
    return Chart(name, title, (), _ROW * len(rows), "".join(parts), None, False)


def dashboard_charts(summary: Summary) -> list[Chart]:
    """Every chart of the dashboard, drawn from ``summary``."""
    buckets = summary.buckets
    outcomes = (
        Series("sign-ins completed", PRIMARY, tuple(b.successes for b in buckets)),
        Series("failures", DANGER, tuple(b.failures for b in buckets)),
    )
    refresh = (
        Series("rotations", PRIMARY, tuple(b.refreshes for b in buckets)),
        Series("reuse detected", DANGER, tuple(b.reuse_detected for b in buckets)),
    )
    # In pairs of like height: the two bar lists side by side, then the two time charts (two columns on wide pages).
    return [
        _bar_rows("funnel", "Sign-in funnel (flows)", summary.funnel, PRIMARY, "No sign-ins in this range yet"),
        _bar_rows("failures", "Top failure reasons", summary.failure_reasons, DANGER, "No failures in this range"),
        _time_chart(
            "outcomes",
            "Completed sign-ins and failures (UTC)",
            summary,
            outcomes,
            "No sign-ins or failures in this range yet",
        ),
        _time_chart(
            "refresh",
            "Refresh-token rotations and reuse (UTC)",
            summary,
            refresh,
            "No refresh-token activity in this range yet",
        ),
    ]


CHART_NAMES = ("funnel", "failures", "outcomes", "refresh")

_STANDALONE_WIDTH = 760


def render_chart(name: str, summary: Summary) -> str:
    """Chart ``name`` (one of :data:`CHART_NAMES`) as a standalone SVG document, 760 px wide, with its title and
    legend: the same drawing as on the page, placed at fixed sizes."""
    chart = next(c for c in dashboard_charts(summary) if c.name == name)
    width = _STANDALONE_WIDTH
    pieces: list[str] = [_text("0", 18, chart.title, weight="600", fill="#111827")]
    y = 32
    for index, (label, color) in enumerate(chart.legend):
        x = index * 180
        pieces.append(f'<rect x="{x}" y="{y}" width="12" height="12" rx="2" fill="{color}"/>')
        pieces.append(_text(str(x + 18), y + 11, label))
    if chart.legend:
        y += 24
    if chart.y_axis is None:
        pieces.append(f'<svg x="0" y="{y}" width="{width}" height="{chart.height}">{chart.plot}</svg>')
    else:
        plot_x = _Y_AXIS_WIDTH + 8
        pieces.append(f'<svg x="0" y="{y}" width="{_Y_AXIS_WIDTH}" height="{chart.height}">{chart.y_axis}</svg>')
        pieces.append(f'<svg x="{plot_x}" y="{y}" width="{width - plot_x}" height="{chart.height}">{chart.plot}</svg>')
    margin = 16
    outer, total = width + 2 * margin, y + chart.height + 2 * margin
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{outer}" height="{total}" viewBox="0 0 {outer} {total}"'
        f' font-family="{escape(FONT)}" role="img" aria-label="{escape(chart.title)}">'
        f'<rect width="100%" height="100%" fill="#ffffff"/>'
        f'<g transform="translate({margin} {margin})">{"".join(pieces)}</g></svg>'
    )
