"""The dashboard's charts: server-rendered SVG (pygal), readable without JavaScript.

Each chart is its own SVG document, shown with ``<img>``: an image cannot run script, and the SVG response gets a
policy of its own (its styles are inline) while the dashboard page keeps the strict one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pygal
from pygal.style import Style

from pixie.analytics import Summary

__all__ = ["CHART_NAMES", "render_chart"]

_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#7b8794",
    opacity="0.9",
    opacity_hover="1",
    colors=("#3f51b5", "#d64545", "#2f9e6e", "#f0a202", "#7b61ff"),
    font_family="DejaVu Sans, Helvetica, Arial, sans-serif",
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    value_font_size=13,
)


def _config(title: str, **extra: object) -> dict[str, object]:
    return {
        "title": title,
        "style": _STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "width": 760,
        "height": 340,
        "print_values": False,
        "legend_at_bottom": True,
        "show_y_guides": True,
        "truncate_label": 40,
        **extra,
    }


# Every bucket keeps its label (tooltips), but only every fourth is printed: 24 or 28 labels would collide.
_TIME_AXIS: dict[str, object] = {"x_labels_major_every": 4, "show_minor_x_labels": False, "x_label_rotation": 0}


def _time_labels(summary: Summary) -> list[str]:
    span = summary.until - summary.since
    fmt = "%H:%M" if span <= 2 * 86400 else "%d %b"
    return [datetime.fromtimestamp(bucket.start, UTC).strftime(fmt) for bucket in summary.buckets]


def _funnel(summary: Summary) -> str:
    chart = pygal.HorizontalBar(**_config("Sign-in funnel (flows)", show_legend=False, print_values=True))
    stages = list(reversed(summary.funnel))  # pygal draws the first series entry at the bottom
    chart.x_labels = [stage for stage, _ in stages]
    chart.add("flows", [count for _, count in stages])
    return str(chart.render(is_unicode=True))


def _outcomes(summary: Summary) -> str:
    chart = pygal.StackedBar(**_config("Completed sign-ins and failures over time", **_TIME_AXIS))
    chart.x_labels = _time_labels(summary)
    chart.add("sign-ins completed", [bucket.successes for bucket in summary.buckets])
    chart.add("failures", [bucket.failures for bucket in summary.buckets])
    return str(chart.render(is_unicode=True))


def _failures(summary: Summary) -> str:
    chart = pygal.HorizontalBar(**_config("Top failure reasons", show_legend=False, print_values=True))
    reasons = list(reversed(summary.failure_reasons)) or [("no failures", 0)]
    chart.x_labels = [reason for reason, _ in reasons]
    chart.add("failures", [count for _, count in reasons])
    return str(chart.render(is_unicode=True))


def _refresh(summary: Summary) -> str:
    chart = pygal.Bar(**_config("Refresh-token rotations and reuse detections", **_TIME_AXIS))
    chart.x_labels = _time_labels(summary)
    chart.add("rotations", [bucket.refreshes for bucket in summary.buckets])
    chart.add("reuse detected", [bucket.reuse_detected for bucket in summary.buckets])
    return str(chart.render(is_unicode=True))


_CHARTS = {"funnel": _funnel, "outcomes": _outcomes, "failures": _failures, "refresh": _refresh}
CHART_NAMES = tuple(_CHARTS)


def render_chart(name: str, summary: Summary) -> str:
    """The SVG of chart ``name`` (one of :data:`CHART_NAMES`)."""
    return _CHARTS[name](summary)
