"""``/authorize`` cannot be used to fill the database: a real Pixie on loopback over HTTP, its counters in process
memory and in the real Redis.

Every anonymous authorization request that needs a login is stored for its lifetime (10 minutes). Each address may
send ``authorize_per_ip`` requests and leave ``authorize_pending_per_ip`` of them pending; past either, the answer is
429 with Retry-After on Pixie's own error page — never a redirect to the client.

The server believes ``X-Forwarded-For`` from loopback (as behind a proxy), so each test has addresses of its own.

Spec: RFC 6585 §4 (429, Retry-After), RFC 6749 §4.1.2.1 (errors before the redirect URI is trusted are not
redirected), RFC 9700 §4.16; ARCHITECTURE §6.1, §6.8.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import RateLimits, Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from services import redis_url
from spec.support import (
    PASSWORDS,
    SCOPES,
    SPA_CB,
    Browser,
    Pixie,
    assert_error_page,
    authorize_pairs,
    redirect_params,
    sign_in,
)

MASTER_KEY = b"authorize-flood-suite-master-key"


def _address() -> str:
    """A documentation address (RFC 5737) no earlier run used: Redis keeps the pending budget for 10 minutes."""
    return f"192.0.2.{secrets.randbelow(254) + 1}-{secrets.token_hex(3)}"


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=SCOPES)
        await create_user(storage, "default", "alice", PASSWORDS["alice"])


def _serve(tmp: pytest.TempPathFactory, counters: str, limits: RateLimits) -> Iterator[Pixie]:
    db_path = tmp.mktemp("authorize-flood") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        redis_url=redis_url() if counters == "redis" else None,
        rate_limits=limits,
        forwarded_allow_ips=("127.0.0.1",),
    )
    with serve_pixie(settings) as base:
        yield Pixie(base=base, db_path=db_path)


@pytest.fixture(scope="module", params=["memory", "redis"])
def defaults(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixie]:
    """Pixie with its default limits."""
    yield from _serve(tmp_path_factory, request.param, RateLimits())


@pytest.fixture(scope="module", params=["memory", "redis"])
def small(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixie]:
    """Pixie allowing 12 ``/authorize`` requests a minute and 4 pending requests per address."""
    limits = RateLimits(authorize_per_ip="12/minute", authorize_pending_per_ip="4 per 10 minutes")
    yield from _serve(tmp_path_factory, request.param, limits)


def _pending_rows(pixie: Pixie) -> int:
    [(count,)] = pixie.query("SELECT count(*) FROM authorization_requests")
    return int(count)


def _assert_refused(response: httpx.Response) -> int:
    """429 on our error page with Retry-After, never cached, never a redirect; returns Retry-After."""
    assert_error_page(response, 429)
    assert response.headers["cache-control"] == "no-store"
    assert "temporarily_unavailable" in response.text
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


def test_one_address_cannot_fill_the_database(defaults: Pixie) -> None:
    """With the default limits, an anonymous flood from one address stores at most 300 pending requests (the
    budget over their 10-minute lifetime); the rest are refused with 429, and nothing more reaches the database.
    Another address is not affected."""
    flood = _address()
    before = _pending_rows(defaults)
    statuses = []
    with defaults.client(headers={"X-Forwarded-For": flood}) as http:
        for _ in range(320):
            http.cookies.clear()  # a flood keeps no cookies (300 request cookies would outgrow a request head)
            response = http.get("/authorize", params=tuple(authorize_pairs()))
            statuses.append(response.status_code)
        _assert_refused(response)
    assert statuses == [303] * 300 + [429] * 20
    assert _pending_rows(defaults) - before == 300
    with defaults.client(headers={"X-Forwarded-For": _address()}) as http:
        assert http.get("/authorize", params=tuple(authorize_pairs())).status_code == 303


def test_pending_requests_per_address_are_bounded(small: Pixie) -> None:
    """Past its budget of pending requests, an address gets 429 on our page (Retry-After within the request
    lifetime) and no new row is stored; a browser with a session there still gets its code, which stores nothing."""
    exhausted = _address()
    with Browser(small) as browser:
        browser.http.headers["X-Forwarded-For"] = _address()
        sign_in(browser, "alice")  # and consent: /authorize answers this browser with a code straight away
        browser.http.headers["X-Forwarded-For"] = exhausted
        before = _pending_rows(small)
        with small.client(headers={"X-Forwarded-For": exhausted}) as anonymous:
            answers = [anonymous.get("/authorize", params=tuple(authorize_pairs())) for _ in range(6)]
        assert [answer.status_code for answer in answers] == [303] * 4 + [429] * 2
        assert 1 <= _assert_refused(answers[-1]) <= 600
        assert _pending_rows(small) - before == 4
        params = redirect_params(browser.authorize(authorize_pairs()), SPA_CB)
        assert "code" in params, "the signed-in browser is not refused: it leaves nothing pending"


def test_authorize_requests_per_address_are_rate_limited(small: Pixie) -> None:
    """Every ``/authorize`` request counts, valid or not, before anything is looked up; the 13th in a minute is
    refused on our page even when it names a client and redirect URI that would be valid."""
    with small.client(headers={"X-Forwarded-For": _address()}) as http:
        for _ in range(12):
            response = http.get("/authorize", params=tuple(authorize_pairs(client_id="no-such-client")))
            assert_error_page(response, 400)
        refused = http.get("/authorize", params=tuple(authorize_pairs()))
    assert 1 <= _assert_refused(refused) <= 60
