"""Flow analytics: the sign-in funnel, outcomes over time, failure reasons and flow durations, from stored events.

Plain functions over :class:`~pixie.storage.records.Event` values, shared by the dashboard (``/admin``) and
``pixie stats`` so both always show the same numbers.

The dashboard's own sign-ins (client :data:`DASHBOARD_CLIENT_ID`) are an administrator looking at the numbers, not
an app's users: they are left out unless that client is asked for by name. Otherwise an administrator's first view
would count their own sign-in, still being finished as the page renders, as a flow that never completed.

The funnel follows each flow by its correlation id (minted at ``/authorize``, carried to the token exchange):
a flow counts at a stage when it reached that stage or any later one, so a returning user whose SSO session made
login unnecessary still counts as "signed in".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pixie.storage.records import Event

__all__ = ["DASHBOARD_CLIENT_ID", "RANGES", "Bucket", "Summary", "range_window", "summarize"]

DASHBOARD_CLIENT_ID = "pixie-admin"
"""The client through which administrators sign in to ``/admin`` (registered by the server itself)."""

RANGES: dict[str, tuple[float, int]] = {"1h": (3600.0, 12), "24h": (86400.0, 24), "7d": (7 * 86400.0, 28)}
"""Selectable time ranges: (length in seconds, number of buckets on the time axis)."""

FUNNEL_STAGES = ("requested", "signed in", "consented", "code issued", "token issued")
_STAGE_OF_KIND = {
    "authorization_requested": 0,
    "login_succeeded": 1,
    "consent_granted": 2,
    "code_issued": 3,
}


@dataclass(frozen=True)
class Bucket:
    start: float
    successes: int
    failures: int
    refreshes: int
    reuse_detected: int


@dataclass(frozen=True)
class Summary:
    since: float
    until: float
    funnel: tuple[tuple[str, int], ...]
    buckets: tuple[Bucket, ...]
    failure_reasons: tuple[tuple[str, int], ...]
    flow_p50_ms: float | None
    flow_p95_ms: float | None
    tokens_by_grant: tuple[tuple[str, int], ...]
    refreshes: int
    reuse_detected: int
    events: int

    @property
    def success_rate(self) -> float | None:
        """Share of started flows (funnel stage 0) that ended with a token."""
        started, finished = self.funnel[0][1], self.funnel[-1][1]
        return None if started == 0 else finished / started


def range_window(name: str, now: float) -> tuple[float, float, int]:
    """(since, until, buckets) for a range name; unknown names fall back to 24 h."""
    seconds, buckets = RANGES.get(name, RANGES["24h"])
    return now - seconds, now, buckets


_REASONS_BY_KIND = {
    "refresh_reuse_detected": "refresh token reuse",
    "login_failed": "wrong username or password",
    "client_authentication_failed": "client authentication failed",
    "rate_limited": "rate limited",
    "consent_denied": "consent denied",
}
_REASONS_BY_DESCRIPTION = (
    ("code_verifier", "PKCE mismatch"),
    ("redirect_uri", "redirect URI mismatch"),
    ("authorization code was already used", "authorization code replayed"),
    ("authorization code is invalid or expired", "unknown or expired code"),
    ("issued to another client", "code of another client"),
)


def _failure_reason(event: Event) -> str | None:
    """A short, human name for why a step failed; ``None`` for a failure another event already reports (the
    token endpoint's refusal of a reused refresh token is the reuse detection itself)."""
    if event.kind in _REASONS_BY_KIND:
        return _REASONS_BY_KIND[event.kind]
    reason = event.detail.get("reason")
    text = reason if isinstance(reason, str) else ""
    if event.kind == "token_issued" and "refresh token was already used" in text:
        return None
    for needle, name in _REASONS_BY_DESCRIPTION:
        if needle in text:
            return name
    return f"{event.kind.replace('_', ' ')}: {event.error or 'unknown'}"


def _percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[index]


def summarize(
    events: Iterable[Event], *, since: float, until: float, buckets: int, client_id: str | None = None
) -> Summary:
    """Everything the dashboard and ``pixie stats`` show, for events in ``[since, until)``: one client's, or every
    client's but the dashboard's own."""
    width = (until - since) / buckets
    successes, failures = [0] * buckets, [0] * buckets
    refreshes, reuse = [0] * buckets, [0] * buckets
    reasons: Counter[str] = Counter()
    grants: Counter[str] = Counter()
    reached: dict[str, int] = {}
    started_at: dict[str, float] = {}
    durations: list[float] = []
    count = 0
    for event in events:
        if not since <= event.created_at < until:
            continue
        wanted = event.client_id == client_id if client_id is not None else event.client_id != DASHBOARD_CLIENT_ID
        if not wanted:
            continue
        count += 1
        slot = min(buckets - 1, int((event.created_at - since) // width))
        flow = event.correlation_id
        if event.outcome != "success":
            reason = _failure_reason(event)
            if reason is not None:
                failures[slot] += 1
                reasons[reason] += 1
        if event.kind == "refresh_rotated":
            refreshes[slot] += 1
        elif event.kind == "refresh_reuse_detected":
            reuse[slot] += 1
        if event.kind == "token_issued" and event.outcome == "success":
            grant = str(event.detail.get("grant_type", "unknown"))
            grants[grant] += 1
            if grant == "authorization_code":
                successes[slot] += 1
                if flow:
                    reached[flow] = max(reached.get(flow, 0), 4)
                    if flow in started_at:
                        durations.append((event.created_at - started_at[flow]) * 1000)
            continue
        if flow and event.outcome == "success" and event.kind in _STAGE_OF_KIND:
            reached[flow] = max(reached.get(flow, 0), _STAGE_OF_KIND[event.kind])
            if event.kind == "authorization_requested":
                started_at.setdefault(flow, event.created_at)
    funnel = [0] * len(FUNNEL_STAGES)
    for flow, stage in reached.items():
        if flow not in started_at:
            continue  # began before the window: its later steps would skew the funnel
        for index in range(stage + 1):
            funnel[index] += 1
    durations.sort()
    return Summary(
        since=since,
        until=until,
        funnel=tuple(zip(FUNNEL_STAGES, funnel, strict=True)),
        buckets=tuple(
            Bucket(since + i * width, successes[i], failures[i], refreshes[i], reuse[i]) for i in range(buckets)
        ),
        failure_reasons=tuple(reasons.most_common(8)),
        flow_p50_ms=_percentile(durations, 0.50),
        flow_p95_ms=_percentile(durations, 0.95),
        tokens_by_grant=tuple(sorted(grants.items())),
        refreshes=sum(refreshes),
        reuse_detected=sum(reuse),
        events=count,
    )
