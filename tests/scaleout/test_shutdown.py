"""Graceful shutdown: SIGTERM makes ``pixie serve`` refuse new connections at once, finish every request already in
flight (slow Argon2 sign-ins, concurrent refresh rotations), run its shutdown (which writes the buffered flow
events) and exit 0 — leaving no half-written rows behind.

Spec: ARCHITECTURE §4 (exit codes), RFC 9700 §4.14.2 (rotation stays all-or-nothing).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from scaleout.dbcheck import Held, check_database, count_events
from scaleout.load import database_figures, record_figures
from scaleout.support import ALICE, SCOPES, CrossBrowser, new_family, running, server_faults, sign_in_and_consent
from spec.support import authorize_pairs, hidden_fields

pytestmark = pytest.mark.postgres

SIGN_INS = 4
REFRESHES = 12
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _login_forms(on: Any, count: int) -> list[tuple[httpx.Cookies, dict[str, str]]]:
    """``count`` browsers, each at a login form of its own pending request: (cookies, filled-in form)."""
    forms = []
    for _ in range(count):
        with CrossBrowser() as browser:
            started = browser.authorize(on, authorize_pairs(client_id="app", scope=" ".join(SCOPES)))
            page = browser.page(on, started, "/login")
            forms.append(
                (browser.http.cookies, {**hidden_fields(page.text), "username": ALICE[0], "password": ALICE[1]})
            )
    return forms


async def _refused_after(base: str, give_up_after: float = 3.0) -> float:
    """Open a new connection every 10 ms until one is refused; when that happened (monotonic clock).

    A probe that lands in the kernel's accept queue just as the listener closes is reset rather than refused:
    not served either way, so polling goes on until the clean refusal."""
    end = time.monotonic() + give_up_after
    while time.monotonic() < end:
        try:
            async with httpx.AsyncClient(timeout=1) as fresh:
                await fresh.get(f"{base}/healthz")
        except httpx.ConnectError:
            return time.monotonic()
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.01)
    raise AssertionError(f"new connections were still accepted {give_up_after} s after SIGTERM")


async def _slow_body(form: dict[str, str], release: asyncio.Event) -> AsyncIterator[bytes]:
    """A form body sent the way a slow client sends it: the first byte now, the rest once ``release`` is set."""
    body = urlencode(form).encode("ascii")
    yield body[:1]
    await release.wait()
    yield body[1:]


async def test_sigterm_finishes_in_flight_requests_and_exits_0(scaleout_db: str, workdir: Path) -> None:
    """Every request is in flight at SIGTERM for certain — its body is still arriving — and is held until new
    connections are refused: the server waits for all of them (the sign-ins then hash passwords during the
    drain), answers each, then exits 0."""
    with running("term", scaleout_db, workdir) as served:
        forms = _login_forms(served, SIGN_INS)
        with CrossBrowser() as browser:
            sign_in_and_consent(browser, served, "shutdown")
            tokens = [new_family(browser, served, "shutdown")["refresh_token"] for _ in range(REFRESHES)]
        refreshes = [{"grant_type": "refresh_token", "refresh_token": t, "client_id": "shutdown"} for t in tokens]

        logins = [httpx.AsyncClient(base_url=served.base, timeout=30, cookies=cookies) for cookies, _ in forms]
        backs = [httpx.AsyncClient(base_url=served.base, timeout=30) for _ in tokens]
        release = asyncio.Event()
        finished: list[float] = []
        work: list[asyncio.Task[httpx.Response]] = []

        async def send(http: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
            response = await http.post(path, content=_slow_body(form, release), headers=FORM)
            finished.append(time.monotonic())
            return response

        try:
            # Each connection is accepted and idle before the work starts: a request still in the kernel's accept
            # queue at SIGTERM is not "in flight" (a load balancer stops sending before it stops an instance).
            await asyncio.gather(*(http.get("/healthz") for http in [*logins, *backs]))
            work += [asyncio.create_task(send(h, "/login", f)) for h, (_, f) in zip(logins, forms, strict=True)]
            work += [asyncio.create_task(send(h, "/token", f)) for h, f in zip(backs, refreshes, strict=True)]
            await asyncio.sleep(0.25)  # every request's headers have reached the server; the bodies are pending
            sent_sigterm = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            refused = await _refused_after(served.base)
            await asyncio.sleep(0.2)
            assert served.proc.poll() is None, "the server exited with requests in flight"
            release.set()
            answers = await asyncio.gather(*work)
            status = await asyncio.to_thread(served.proc.wait, 15)
            exited = time.monotonic()
        finally:
            release.set()
            for task in work:
                task.cancel()
            await asyncio.gather(*work, return_exceptions=True)
            for http in [*logins, *backs]:
                await http.aclose()

        login_answers, token_answers = answers[:SIGN_INS], answers[SIGN_INS:]
        assert [r.status_code for r in login_answers] == [303] * SIGN_INS, [r.text[:200] for r in login_answers]
        assert all("error=" not in r.headers["location"] for r in login_answers)
        assert [r.status_code for r in token_answers] == [200] * REFRESHES, [r.text[:200] for r in token_answers]
        assert refused - sent_sigterm < 1.0, "new connections must be refused at once"
        assert min(finished) > refused, "the in-flight requests were still running while new ones were refused"
        assert status == 0, served.log()[-2000:]
        assert exited - sent_sigterm < 10
        assert "Application shutdown complete" in served.log()
        assert server_faults(served) == []

    held = [Held(r.json()["refresh_token"], live=True) for r in token_answers]
    report = await check_database(scaleout_db, held)
    assert report.inconsistencies == []
    # The buffered flow events of the drained requests were written by the shutdown, not lost with the process.
    assert await count_events(scaleout_db, "refresh_rotated", "shutdown") == REFRESHES
    record_figures(
        "sigterm",
        {
            **database_figures(report),
            "requests_sent": len(answers),
            "requests_in_flight_at_sigterm": len(answers),
            "answered_ok": len(answers),
            "faults_injected": 1,
            "seconds_to_refuse_new_connections": round(refused - sent_sigterm, 3),
            "seconds_to_exit": round(exited - sent_sigterm, 3),
        },
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_gracefully_and_exits_0(scaleout_db: str, workdir: Path, workers: int) -> None:
    """SIGINT (Ctrl+C in a terminal) is a requested stop like SIGTERM: the shutdown runs and the command exits 0,
    not with an error (ARCHITECTURE §4)."""
    with running(f"ctrl-c-{workers}", scaleout_db, workdir, workers=workers) as served:
        served.proc.send_signal(signal.SIGINT)
        assert served.proc.wait(timeout=30) == 0, served.log()[-2000:]
        log = served.log()
        assert "Application shutdown complete" in log, log[-2000:]
        assert "error" not in log.lower().replace("uvicorn.error", ""), log[-2000:]
