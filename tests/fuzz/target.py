"""The server the fuzzers attack: a real Pixie on loopback, on a fresh SQLite file, with real clients and a
signed-in user, so fuzzed requests reach the authenticated paths, not only the front door.

Clients (default tenant): ``spa`` (public, ``http://127.0.0.1:9999/cb``), ``withquery`` (public,
``http://127.0.0.1:9999/cb?app=1``), ``native6`` (public, ``http://[::1]/cb``), ``web`` (confidential,
``https://app.example/cb``, authorization code + refresh + client credentials) and ``ops`` (confidential, client
credentials with ``pixie:admin``: the admin API's automation client). User ``alice`` has consented to the browser
clients, so ``/authorize`` with her session cookie answers with a code straight away.

The login and ``/authorize`` limits are off so hostile requests reach the password check and the validation instead
of the 429 page (the limits themselves are tested in ``tests/ratelimit``). Every server is wrapped in
:class:`fuzz.support.Tallied`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fuzz.support import TALLY, FuzzServer, Tallied
from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import RateLimits, Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
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
OPS_SECRET = "ops-client-secret-0123456789-abcdefghijkl"
PUBLIC_CLIENTS = {"spa": SPA_CB, "withquery": QUERY_CB, "native6": IPV6_CB}


async def _seed(database_url: str) -> dict[str, str]:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        for client_id, uri in PUBLIC_CLIENTS.items():
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
        await register_client(
            storage,
            "default",
            "ops",
            redirect_uris=[],
            public=False,
            secret=OPS_SECRET,
            scopes=["pixie:admin"],
            grant_types=["client_credentials"],
        )
        user = await create_user(storage, "default", "alice", PASSWORDS["alice"])
        return {"alice": user.user_id}


@contextmanager
def serve_fuzz_target(directory: Path) -> Iterator[FuzzServer]:
    """Seed a database in ``directory``, serve it, sign alice in and have her consent; yield the server."""
    db_path = directory / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    user_ids = run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        rate_limits=RateLimits(
            login_failures_per_ip="",
            login_failures_per_user="",
            lockout_after=1_000_000,
            authorize_per_ip="",
            authorize_pending_per_ip="",
        ),
    )
    with serve_pixie(settings, wrap=lambda app: Tallied(app, TALLY)) as base:
        pixie = Pixie(base=base, db_path=db_path, user_ids=user_ids)
        with Browser(pixie) as browser:
            sign_in(browser, "alice")
            cookie = browser.session_cookie()
            assert cookie
            for client_id, uri in {**PUBLIC_CLIENTS, "web": WEB_CB}.items():
                approve_consent(browser, client_id, uri)
        yield FuzzServer(pixie=pixie, alice_cookie=cookie)
