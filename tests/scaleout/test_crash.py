"""Crash safety under a steady refresh-rotation load on two instances: SIGKILL one mid-load, or cut PostgreSQL away
for about two seconds; then check every refresh family in the database and every token the clients hold.

Figures (requests sent, faults injected, tokens checked, inconsistencies found) go to
``test-artifacts/scaleout/figures.json``. ``PIXIE_SOAK=1`` runs the long variant: more clients, five faults each.

Spec: RFC 9700 §4.14.2 (rotation and reuse detection), RFC 6749 §5.2 (error responses), ARCHITECTURE §6.4 and §6.8.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from faults import database_proxy, via_proxy
from lifecycle.support import refresh
from scaleout.dbcheck import check_database, family_state
from scaleout.load import LoadClient, LoadStats, load_figures, record_figures, run_load, settle
from scaleout.support import (
    CrossBrowser,
    Instance,
    new_family,
    running,
    running_all,
    server_faults,
    sign_in_and_consent,
    soak,
)
from spec.support import assert_json_error

pytestmark = pytest.mark.postgres

CLIENTS = 32 if soak() else 12
FAULTS = 5 if soak() else 1
PHASE = 3.0 if soak() else 1.0
"""Seconds of load before a fault and after it."""


def _load_clients(on: Instance, count: int) -> list[LoadClient]:
    """``count`` families, half for the grace client and half for the strict one (alice signs in once)."""
    clients = []
    with CrossBrowser() as browser:
        sign_in_and_consent(browser, on, "load-grace")
        sign_in_and_consent(browser, on, "load-strict")
        for index in range(count):
            client_id = "load-strict" if index % 2 else "load-grace"
            tokens = new_family(browser, on, client_id)
            clients.append(LoadClient(client_id, tokens["refresh_token"], strict=client_id == "load-strict"))
    return clients


def _assert_outcome(clients: list[LoadClient], stats: LoadStats) -> None:
    assert stats.unexpected == [], stats.unexpected[:10]
    assert all(c.live for c in clients if not c.strict), "a grace client lost its family"
    assert stats.ok >= 3 * len(clients), f"the load barely ran: {stats.ok} rotations"


async def test_lost_reply_retried_on_the_other_instance(pair: tuple[Instance, Instance], scaleout_db: str) -> None:
    """The case the load provokes at random, made certain: a rotation commits on A but its reply is lost; the
    client retries the same request on B. Grace client: the same new pair again. Strict client: reuse, the family
    is revoked (and the pair A issued is dead too)."""
    a, b = pair
    with CrossBrowser() as browser:
        sign_in_and_consent(browser, a, "load-grace")
        sign_in_and_consent(browser, a, "load-strict")
        grace = new_family(browser, a, "load-grace")["refresh_token"]
        strict = new_family(browser, a, "load-strict")["refresh_token"]
    with httpx.Client(base_url=a.base, timeout=20) as on_a, httpx.Client(base_url=b.base, timeout=20) as on_b:
        lost = refresh(on_a, grace, "load-grace").json()
        again = refresh(on_b, grace, "load-grace")
        assert again.status_code == 200, again.text
        assert again.json()["refresh_token"] == lost["refresh_token"]

        lost = refresh(on_a, strict, "load-strict").json()
        assert_json_error(refresh(on_b, strict, "load-strict"), "invalid_grant")
        assert_json_error(refresh(on_a, lost["refresh_token"], "load-strict"), "invalid_grant")
    assert (await family_state(scaleout_db, strict)).revoked_reason == "refresh_reuse"


async def test_sigkill_mid_load_leaves_every_family_consistent(scaleout_db: str, workdir: Path) -> None:
    """Kill one of two instances with SIGKILL while clients rotate through both; clients that got no answer
    retry on the survivor with the token they hold. Afterwards no family is broken, every held token is known
    (and live, unless the server told its client the family is gone), and every live client rotates again."""
    stats, stop = LoadStats(), asyncio.Event()
    in_flight: list[int] = []
    with ExitStack() as stack:
        instances = stack.enter_context(running_all(["kill-x", "kill-y"], scaleout_db, workdir))
        clients = _load_clients(instances[0], CLIENTS)
        bases = [on.base for on in instances]
        load = asyncio.create_task(run_load(clients, bases, stop, stats))
        for fault in range(FAULTS):
            await asyncio.sleep(PHASE)
            victim = instances[fault % 2]
            in_flight.append(await stats.busy(victim.base))  # so the kill cuts requests mid-way
            victim.kill()
            await asyncio.sleep(PHASE)
            if fault < FAULTS - 1:  # soak: bring a fresh instance up in its place while the load goes on
                fresh = await asyncio.to_thread(stack.enter_context, running(f"kill-{fault}", scaleout_db, workdir))
                bases[bases.index(victim.base)] = fresh.base
                instances[fault % 2] = fresh
        stop.set()
        await load
        survivor = instances[FAULTS % 2]
        await settle(clients, survivor.base, stats)
        report = await check_database(scaleout_db, [c.held() for c in clients])
        figures = load_figures(stats, report, FAULTS)
        record_figures("sigkill", {**figures, "clients": len(clients), "requests_in_flight_at_kill": in_flight})
        assert report.inconsistencies == []
        _assert_outcome(clients, stats)
        assert server_faults(survivor) == []


async def test_database_outage_mid_load_is_503_then_recovers(scaleout_db: str, workdir: Path) -> None:
    """Both instances reach PostgreSQL through a proxy that is cut for two seconds during the load: requests sent
    during the outage are answered 503 ``temporarily_unavailable`` (never a 500 or a trace), requests after it
    succeed without a restart, and the database is consistent."""
    stats, stop = LoadStats(), asyncio.Event()
    outages: list[tuple[float, float]] = []
    with database_proxy(scaleout_db) as proxy:
        proxied = via_proxy(scaleout_db, proxy)
        with running_all(["cut-x", "cut-y"], proxied, workdir) as (x, y):
            clients = _load_clients(x, CLIENTS)
            load = asyncio.create_task(run_load(clients, [x.base, y.base], stop, stats))
            for _ in range(FAULTS):
                await asyncio.sleep(PHASE)
                cut_at = time.monotonic()
                proxy.cut()
                await asyncio.sleep(2.0)
                proxy.restore()
                outages.append((cut_at, time.monotonic()))
            await asyncio.sleep(PHASE)
            stop.set()
            await load
            await settle(clients, y.base, stats)
            faults = server_faults(x) + server_faults(y)

    report = await check_database(scaleout_db, [c.held() for c in clients])
    during = [status for sent, done, status in stats.answers if any(s + 0.05 <= sent and done <= e for s, e in outages)]
    recovery = [
        min((done - end for sent, done, status in stats.answers if status == 200 and sent >= end), default=99.0)
        for _, end in outages
    ]
    figures = load_figures(stats, report, FAULTS)
    figures.update(
        clients=len(clients),
        answers_during_outage=len(during),
        seconds_to_first_200_after_restore=round(max(recovery), 3),
    )
    record_figures("postgres_outage", figures)
    assert report.inconsistencies == []
    assert faults == []
    assert during, "no request was answered during the outage"
    assert set(during) == {503}, sorted(set(during))
    assert max(recovery) < 5.0, recovery
    _assert_outcome(clients, stats)
