"""A steady refresh-rotation load: N concurrent clients, each holding one refresh token and rotating it in a loop,
alternating instances, and retrying the way a careful client must when a reply is lost.

A client whose request got no answer (connection reset, server killed) or a 503 cannot know whether its rotation
committed, so it retries with the token it holds. A client registered with a grace window then receives the same
new pair again (RFC 9700 §4.14.2 leaves room for this; ARCHITECTURE §6.4); a strict client finds its family revoked
— correct behaviour, counted as ``families_ended`` and never as an inconsistency. Everything else that is not a
200 or a 503 ``temporarily_unavailable`` JSON error is recorded in ``unexpected``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scaleout.dbcheck import DatabaseReport, Held
from scaleout.support import soak

__all__ = [
    "FIGURES",
    "LoadClient",
    "LoadStats",
    "database_figures",
    "load_figures",
    "record_figures",
    "run_load",
    "settle",
]

FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "scaleout" / "figures.json"


@dataclass
class LoadClient:
    client_id: str
    token: str
    strict: bool
    live: bool = True
    uncertain: bool = False
    """The last request made with ``token`` may have committed (no answer, or a 503): the next one is a retry."""
    retries: int = 0
    rotations: int = 0

    def held(self) -> Held:
        return Held(self.token, live=self.live)


@dataclass
class LoadStats:
    requests: int = 0
    ok: int = 0
    unavailable: int = 0
    no_answer: int = 0
    refused_connections: int = 0
    families_ended: int = 0
    grace_retries_ok: int = 0
    unexpected: list[str] = field(default_factory=list)
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    """(sent, answered, status) of every HTTP answer, monotonic clock: the outage test judges them by time."""
    in_flight: dict[str, int] = field(default_factory=dict)
    """Requests sent to each base URL and not yet answered: a fault can be timed to hit some of them."""

    async def busy(self, base: str, at_least: int = 2, give_up_after: float = 5.0) -> int:
        """Wait until ``at_least`` requests are in flight at ``base`` (at most ``give_up_after`` s); how many are."""
        end = time.monotonic() + give_up_after
        # A 1 ms poll of a plain counter: the load stays free of any signalling on its hot path.
        while self.in_flight.get(base, 0) < at_least and time.monotonic() < end:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        return self.in_flight.get(base, 0)


def _problem_in_error(response: httpx.Response) -> str | None:
    """None if ``response`` is a clean OAuth JSON error (RFC 6749 §5.2); else what is wrong with it."""
    if "traceback" in response.text.lower():
        return "a traceback in the body"
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:120]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return f"no error code: {response.text[:120]!r}"
    if response.headers.get("cache-control") != "no-store":
        return "an error without Cache-Control: no-store"
    return None


async def _one(
    http: httpx.AsyncClient, client: LoadClient, base: str, stats: LoadStats, down: dict[str, float]
) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": client.token, "client_id": client.client_id}
    sent = time.monotonic()
    stats.in_flight[base] = stats.in_flight.get(base, 0) + 1
    try:
        response = await http.post(f"{base}/token", data=data)
    except httpx.ConnectError:  # nothing was sent: the token's state is what it was
        stats.refused_connections += 1
        down[base] = time.monotonic() + 1.0
        return
    except httpx.TransportError:  # sent, but no answer: maybe committed
        stats.no_answer += 1
        client.uncertain = True
        down[base] = time.monotonic() + 1.0
        return
    finally:
        stats.in_flight[base] -= 1
    stats.requests += 1
    stats.answers.append((sent, time.monotonic(), response.status_code))
    if response.status_code == 200:
        stats.ok += 1
        if client.uncertain:
            stats.grace_retries_ok += not client.strict
            client.retries += 1
        client.token, client.uncertain = response.json()["refresh_token"], False
        client.rotations += 1
        return
    problem = _problem_in_error(response)
    error = response.json().get("error") if problem is None else None
    if response.status_code == 503 and error == "temporarily_unavailable":
        stats.unavailable += 1
        client.uncertain = True
        await asyncio.sleep(0.05)
    elif response.status_code == 400 and error == "invalid_grant" and client.strict and client.uncertain:
        stats.families_ended += 1  # the lost rotation had committed: our retry was reuse, and it was caught
        client.live = False
    else:
        stats.unexpected.append(f"{client.client_id}: {response.status_code} {problem or response.text[:160]}")
        client.live = False


async def _client_loop(
    client: LoadClient, bases: list[str], offset: int, stop: asyncio.Event, stats: LoadStats
) -> None:
    down: dict[str, float] = {}
    turn = offset
    async with httpx.AsyncClient(timeout=10) as http:
        while client.live and not stop.is_set():
            now = time.monotonic()
            candidates = [base for base in bases if down.get(base, 0.0) <= now]
            if not candidates:
                await asyncio.sleep(0.05)
                continue
            turn += 1
            await _one(http, client, candidates[turn % len(candidates)], stats, down)


async def run_load(clients: list[LoadClient], bases: list[str], stop: asyncio.Event, stats: LoadStats) -> None:
    """Run every client until ``stop`` is set (each alternates over ``bases``, skipping one that just failed)."""
    await asyncio.gather(*(_client_loop(c, bases, i, stop, stats) for i, c in enumerate(clients)))


async def settle(clients: list[LoadClient], base: str, stats: LoadStats, deadline: float = 15.0) -> None:
    """After the faults: every client still live rotates once more on ``base`` (retrying through 503s)."""
    async with httpx.AsyncClient(timeout=10) as http:
        for client in clients:
            end = time.monotonic() + deadline
            before = client.rotations
            while client.live and client.rotations == before and time.monotonic() < end:
                await _one(http, client, base, stats, {})
            if client.live and client.rotations == before:
                stats.unexpected.append(f"{client.client_id}: could not rotate after the faults")


def load_figures(stats: LoadStats, report: DatabaseReport, faults: int) -> dict[str, Any]:
    """What a fault run did and found, for :func:`record_figures`."""
    return {
        "requests_sent": stats.requests + stats.no_answer,
        "answered_200": stats.ok,
        "answered_503": stats.unavailable,
        "no_answer": stats.no_answer,
        "connections_refused": stats.refused_connections,
        "faults_injected": faults,
        "strict_families_ended_by_lost_reply": stats.families_ended,
        "grace_retries_answered": stats.grace_retries_ok,
        **database_figures(report),
        "inconsistencies": len(report.inconsistencies) + len(stats.unexpected),
    }


def database_figures(report: DatabaseReport) -> dict[str, Any]:
    return {
        "families_in_database": report.families,
        "tokens_in_database": report.tokens,
        "held_tokens_checked": report.held_checked,
        "tokens_checked": report.tokens + report.held_checked,
        "inconsistencies": len(report.inconsistencies),
    }


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Keep ``figures`` under ``name`` in ``test-artifacts/scaleout/figures.json`` (one file for the package, so
    the numbers survive without ``-s``)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    existing.pop("totals", None)
    existing[name] = {**figures, "soak": soak(), "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    existing["totals"] = {
        key: sum(entry.get(key, 0) for entry in existing.values())
        for key in ("requests_sent", "faults_injected", "tokens_checked", "inconsistencies")
    }
    FIGURES.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
