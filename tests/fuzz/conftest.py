"""One real Pixie server for the fuzz suite, on loopback, backed by a fresh SQLite file, with real clients and a
signed-in user so that fuzzed requests reach the authenticated paths, not only the front door.

Clients (default tenant): ``spa`` (public, ``http://127.0.0.1:9999/cb``), ``withquery`` (public,
``http://127.0.0.1:9999/cb?app=1``), ``native6`` (public, ``http://[::1]:8888/cb``) and ``web`` (confidential,
``https://app.example/cb``, authorization code + refresh + client credentials). User ``alice`` has consented to all of
them, so ``/authorize`` with her session cookie answers with a code straight away.

The login limits are raised so hostile sign-in forms reach the password check instead of the lock-out page (the
limits themselves are tested in ``tests/ratelimit``).

The server is wrapped in :class:`fuzz.support.Tally`, which counts every request and every 5xx *as the server sent
it*; the session ends with the figures printed and the 5xx count asserted to be zero.

``PIXIE_FUZZ_SOAK=1`` multiplies the number of examples (see ``fuzz.support.examples``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fuzz.support import SOAK, TALLY, FuzzServer, wrap
from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import RateLimits, Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.server.app import create_app
from pixie.storage.sql import build_storage, create_engine, migrate
from pixie.tokens.keys import KeyRing
from spec.support import (
    IPV6_CB,
    PASSWORDS,
    QUERY_CB,
    SCOPES,
    SPA_CB,
    WEB_CB,
    WEB_SECRET,
    Browser,
    Pixie,
    approve_consent,
    sign_in,
)

MASTER_KEY = b"fuzz-suite-master-key-32-bytes!!"

_PUBLIC = {"spa": SPA_CB, "withquery": QUERY_CB, "native6": IPV6_CB}


async def _seed(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        storage = build_storage(engine)
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        for client_id, uri in _PUBLIC.items():
            await register_client(storage, "default", client_id, redirect_uris=[uri], public=True, scopes=SCOPES)
        await register_client(
            storage,
            "default",
            "web",
            redirect_uris=[WEB_CB],
            public=False,
            secret=WEB_SECRET,
            scopes=SCOPES,
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
        )
        user = await create_user(storage, "default", "alice", PASSWORDS["alice"])
        return {"alice": user.user_id}
    finally:
        await engine.dispose()


@pytest.fixture(scope="package")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    db_path = tmp_path_factory.mktemp("fuzz") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    user_ids = run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        rate_limits=RateLimits(login_failures_per_ip="", lockout_after=1_000_000),
    )
    with serve_in_thread(wrap(create_app(settings)), port) as base:
        pixie = Pixie(base=base, db_path=db_path, user_ids=user_ids)
        with Browser(pixie) as browser:
            sign_in(browser, "alice")
            cookie = browser.session_cookie()
            assert cookie
            for client_id, uri in {**_PUBLIC, "web": WEB_CB}.items():
                approve_consent(browser, client_id, uri)
        yield FuzzServer(pixie=pixie, alice_cookie=cookie)
    # Whatever the tests checked one by one, the server itself must never have answered 5xx or sent a header
    # with CR/LF in it during the whole run.
    assert TALLY.server_errors == [], TALLY.server_errors[:20]
    assert TALLY.bad_headers == [], TALLY.bad_headers[:20]


@pytest.fixture(scope="package")
def http(fuzz_server: FuzzServer) -> Iterator[httpx.Client]:
    """A plain back-channel client: no cookies, no redirects followed."""
    with fuzz_server.pixie.client() as client:
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.requests:
        mode = "soak" if SOAK else "ci"
        terminalreporter.write_line(f"fuzz ({mode}): {TALLY.summary()}")
