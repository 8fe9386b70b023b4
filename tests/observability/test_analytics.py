"""The funnel and failure analysis on hand-made event sequences (the pieces the dashboard and ``pixie stats`` show)."""

from __future__ import annotations

from typing import Any

from pixie.analytics import FUNNEL_STAGES, range_window, summarize
from pixie.storage.records import Event

T0 = 1_700_000_000.0


def ev(kind: str, at: float, flow: str | None = None, outcome: str = "success", **detail: Any) -> Event:
    error = detail.pop("error", None)
    client = detail.pop("client", "spa")
    return Event("default", kind, outcome, T0 + at, client, error, None, flow, detail)


def _full_flow(flow: str, start: float, *, login: bool = True) -> list[Event]:
    steps = [ev("authorization_requested", start, flow)]
    if login:
        steps.append(ev("login_succeeded", start + 1, flow))
    steps += [
        ev("consent_granted", start + 2, flow),
        ev("code_issued", start + 3, flow),
        ev("token_issued", start + 4, flow, grant_type="authorization_code"),
    ]
    return steps


def test_funnel_counts_each_flow_at_every_stage_it_passed() -> None:
    events = [
        *_full_flow("a", 10),
        *_full_flow("b", 20, login=False),  # SSO: no login step, still "signed in"
        ev("authorization_requested", 30, "c"),
        ev("login_failed", 31, "c", outcome="failure", error="invalid_credentials"),
        ev("authorization_requested", 40, "d"),
        ev("login_succeeded", 41, "d"),
        ev("consent_denied", 42, "d", outcome="failure", error="access_denied"),
    ]
    summary = summarize(events, since=T0, until=T0 + 100, buckets=10)
    assert summary.funnel == tuple(zip(FUNNEL_STAGES, (4, 3, 2, 2, 2), strict=True))
    assert summary.success_rate == 0.5
    assert dict(summary.failure_reasons) == {"wrong username or password": 1, "consent denied": 1}
    assert (summary.flow_p50_ms, summary.flow_p95_ms) == (4000.0, 4000.0)
    assert [bucket.successes for bucket in summary.buckets][:3] == [0, 1, 1]


def test_a_flow_that_started_before_the_window_is_left_out_of_the_funnel() -> None:
    events = [*_full_flow("old", -5), *_full_flow("new", 50)]
    summary = summarize(events, since=T0, until=T0 + 100, buckets=4)
    assert summary.funnel[0][1] == 1 and summary.funnel[-1][1] == 1
    assert dict(summary.tokens_by_grant) == {"authorization_code": 1}, "the old flow's token is outside too"


def test_failure_reasons_are_named_and_reuse_is_counted_once() -> None:
    events = [
        ev(
            "token_issued",
            1,
            outcome="failure",
            error="invalid_grant",
            grant_type="authorization_code",
            reason="code_verifier does not match the code_challenge",
        ),
        ev(
            "token_issued",
            2,
            outcome="failure",
            error="invalid_grant",
            grant_type="refresh_token",
            reason="refresh token was already used; the session it belonged to is revoked",
        ),
        ev("refresh_reuse_detected", 2, outcome="failure", error="invalid_grant", family_id="f"),
        ev(
            "authorization_requested",
            3,
            outcome="failure",
            error="invalid_request",
            reason="redirect_uri is not registered for this client",
        ),
        ev("rate_limited", 4, outcome="failure", error="token_ip"),
        ev("token_issued", 5, outcome="failure", error="unsupported_grant_type", grant_type="password"),
    ]
    summary = summarize(events, since=T0, until=T0 + 10, buckets=2)
    assert dict(summary.failure_reasons) == {
        "PKCE mismatch": 1,
        "refresh token reuse": 1,
        "redirect URI mismatch": 1,
        "rate limited": 1,
        "token issued: unsupported_grant_type": 1,
    }
    assert sum(bucket.failures for bucket in summary.buckets) == 5
    assert summary.reuse_detected == 1


def test_client_filter_and_percentiles() -> None:
    events = [*_full_flow("a", 0), *_full_flow("b", 10)]
    events += [
        ev("authorization_requested", 20, "c", client="other"),
        ev("token_issued", 90, "c", client="other", grant_type="authorization_code"),
    ]
    everyone = summarize(events, since=T0, until=T0 + 100, buckets=5)
    assert everyone.funnel[-1][1] == 3 and everyone.flow_p95_ms == 70_000.0 and everyone.flow_p50_ms == 4000.0
    spa_only = summarize(events, since=T0, until=T0 + 100, buckets=5, client_id="spa")
    assert spa_only.funnel[-1][1] == 2 and spa_only.flow_p95_ms == 4000.0


def test_unknown_ranges_fall_back_to_a_day() -> None:
    since, until, buckets = range_window("forever", T0)
    assert (until - since, buckets) == (86400.0, 24)
