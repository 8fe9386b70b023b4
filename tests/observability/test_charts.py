"""The dashboard's charts on hand-made summaries: whole-number count axes, round-time labels for every range, the
no-data state, a standalone SVG that parses, and the dashboard's own sign-ins left out of the numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from pixie.analytics import DASHBOARD_CLIENT_ID, RANGES, range_window, summarize
from pixie.server.charts import CHART_NAMES, dashboard_charts, integer_ticks, render_chart, time_ticks
from pixie.storage.records import Event

NOW = datetime(2026, 12, 7, 14, 37, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("largest", "expected"),
    [(1, [0, 1]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]), (12, [0, 5, 10, 15]), (64, [0, 20, 40, 60, 80])],
)
def test_count_axes_have_whole_number_ticks(largest: int, expected: list[int]) -> None:
    assert integer_ticks(largest) == expected
    for value in range(1, 2000):
        ticks = integer_ticks(value)
        assert ticks[0] == 0 and ticks[-1] >= value and len(ticks) <= 6
        assert all(isinstance(t, int) for t in ticks) and len(set(ticks)) == len(ticks)


@pytest.mark.parametrize(
    ("range_name", "labels"),
    [
        ("1h", ["13:45", "14:00", "14:15", "14:30"]),
        ("24h", ["15:00", "18:00", "21:00", "Mon 7", "03:00", "06:00", "09:00", "12:00"]),
        ("7d", ["Tue 1", "Wed 2", "Thu 3", "Fri 4", "Sat 5", "Sun 6", "Mon 7"]),
    ],
)
def test_time_labels_fall_on_round_times_at_every_range(range_name: str, labels: list[str]) -> None:
    since, until, _ = range_window(range_name, NOW)
    ticks = time_ticks(since, until)
    assert [label for _, label, _ in ticks] == labels
    positions = [position for position, _, _ in ticks]
    assert positions == sorted(positions) and positions[0] >= 0 and positions[-1] <= 1
    assert [major for _, _, major in ticks] == [index % 2 == 0 for index in range(len(ticks))]


def _event(kind: str, at: float, client: str = "spa", flow: str = "f", **detail: object) -> Event:
    return Event("default", kind, "success", NOW - at, client, None, None, flow, dict(detail))


def test_a_summary_without_events_draws_every_chart_as_empty() -> None:
    for range_name in RANGES:
        since, until, buckets = range_window(range_name, NOW)
        charts = dashboard_charts(summarize([], since=since, until=until, buckets=buckets))
        assert [c.name for c in charts] == list(CHART_NAMES)
        assert all(c.empty and "in this range" in c.plot and c.y_axis is None for c in charts)


def test_the_standalone_svg_parses_and_shows_the_counts() -> None:
    since, until, buckets = range_window("24h", NOW)
    events = [_event("token_issued", 60 * i, flow=f"f{i}", grant_type="authorization_code") for i in range(1, 8)]
    summary = summarize(events, since=since, until=until, buckets=buckets)
    for name in CHART_NAMES:
        root = ET.fromstring(render_chart(name, summary))  # noqa: S314 - our own output, not untrusted input
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        sizes = {t.get("font-size") for t in root.iter("{http://www.w3.org/2000/svg}text")}
        assert sizes == {"12"}, (name, sizes)
        if name == "outcomes":
            assert "7" in texts or "8" in texts  # the top of the count axis: 7 sign-ins in one hour


def test_the_dashboards_own_sign_ins_are_left_out_unless_asked_for() -> None:
    since, until, buckets = range_window("1h", NOW)
    events = [
        _event("authorization_requested", 30, flow="app"),
        _event("token_issued", 20, flow="app", grant_type="authorization_code"),
        _event("authorization_requested", 10, client=DASHBOARD_CLIENT_ID, flow="admin"),  # still signing in
    ]
    everything = summarize(events, since=since, until=until, buckets=buckets)
    assert (everything.funnel[0][1], everything.funnel[-1][1], everything.success_rate) == (1, 1, 1.0)
    own = summarize(events, since=since, until=until, buckets=buckets, client_id=DASHBOARD_CLIENT_ID)
    assert own.funnel[0][1] == 1 and own.funnel[-1][1] == 0
