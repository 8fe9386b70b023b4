"""One real Pixie server for the specification package (stopped when the package is done), on loopback, backed
by a fresh SQLite file.

Clients (all in the default tenant):

==================  ============  ======================================  ==========================================
client              type          redirect URIs                           used for
==================  ============  ======================================  ==========================================
spa                 public        http://127.0.0.1:9999/cb                the happy path, codes; its port is pinned
spa-b               public        http://127.0.0.1:9999/cb                "code issued to A, redeemed by B"
spa2                public        …/cb and …/other                        redirect_uri required with two registered
withquery           public        http://127.0.0.1:9999/cb?app=1          registered query retained
native              public        http://127.0.0.1/cb                     loopback registered without port: any port
native6             public        http://[::1]/cb                         IPv6 loopback, any port
dev-spa             public        http://localhost:5173/callback          development server: exact, port included
spa-norefresh       public        http://127.0.0.1:9999/cb                no refresh_token grant → no refresh token
spa-grace           public        http://127.0.0.1:9999/cb                refresh_grace_seconds=30
web                 confidential  https://app.example/cb                  client authentication, CORS origin
cc-only             confidential  https://cc.example/cb                   client_credentials only: unauthorized_client
prompt-none-app     public        http://127.0.0.1:9999/cb                never consented: consent_required
subset-app          public        http://127.0.0.1:9999/cb                consent remembered for a subset
superset-app        public        http://127.0.0.1:9999/cb                consent asked again for a superset
disabled-app        public        http://127.0.0.1:9999/cb                disabled: treated as unknown
==================  ============  ======================================  ==========================================

Users: ``alice`` (signed in once per session; has consented to the clients in ``_CONSENTED``), ``dave`` (for
tests that end their own session), ``mallory`` (disabled).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.support import (
    CC_CB,
    DEV_CB,
    IPV6_CB,
    NATIVE_CB,
    PASSWORDS,
    QUERY_CB,
    SCOPES,
    SPA_CB,
    SPA_CB_OTHER,
    WEB_CB,
    WEB_SECRET,
    Browser,
    Pixie,
    SignedIn,
    approve_consent,
    sign_in,
)

MASTER_KEY = b"spec-suite-master-key-32-bytes!!"

_PUBLIC = {
    "spa": [SPA_CB],
    "spa-b": [SPA_CB],
    "spa2": [SPA_CB, SPA_CB_OTHER],
    "withquery": [QUERY_CB],
    "native": [NATIVE_CB],
    "native6": [IPV6_CB],
    "dev-spa": [DEV_CB],
    "prompt-none-app": [SPA_CB],
    "subset-app": [SPA_CB],
    "superset-app": [SPA_CB],
    "disabled-app": [SPA_CB],
}
_CONSENTED = {
    "spa": SPA_CB,
    "spa-b": SPA_CB,
    "withquery": QUERY_CB,
    "native": NATIVE_CB,
    "native6": IPV6_CB,
    "dev-spa": DEV_CB,
    "spa-norefresh": SPA_CB,
    "spa-grace": SPA_CB,
    "web": WEB_CB,
}


async def _seed(database_url: str) -> dict[str, str]:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        for client_id, uris in _PUBLIC.items():
            await register_client(storage, "default", client_id, redirect_uris=uris, public=True, scopes=SCOPES)
        await register_client(
            storage,
            "default",
            "spa-norefresh",
            redirect_uris=[SPA_CB],
            public=True,
            scopes=SCOPES,
            grant_types=["authorization_code"],
        )
        await register_client(
            storage,
            "default",
            "spa-grace",
            redirect_uris=[SPA_CB],
            public=True,
            scopes=SCOPES,
            refresh_grace_seconds=30,
        )
        await register_client(
            storage, "default", "web", redirect_uris=[WEB_CB], public=False, secret=WEB_SECRET, scopes=SCOPES
        )
        await register_client(
            storage,
            "default",
            "cc-only",
            redirect_uris=[CC_CB],
            public=False,
            secret=WEB_SECRET,
            scopes=SCOPES,
            grant_types=["client_credentials"],
        )
        users = {}
        for username, password in PASSWORDS.items():
            users[username] = (await create_user(storage, "default", username, password)).user_id
        return users


@pytest.fixture(scope="package")
def pixie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixie]:
    """The server under test. Its clients and users are described in this module's docstring."""
    db_path = tmp_path_factory.mktemp("spec") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    user_ids = run_coroutine(_seed(database_url))
    server = Pixie(base="", db_path=db_path, user_ids=user_ids)
    server.execute("UPDATE users SET disabled = 1 WHERE username = 'mallory'")
    server.execute("UPDATE clients SET disabled = 1 WHERE client_id = 'disabled-app'")
    port = free_port()
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER_KEY)
    with serve_pixie(settings) as base:
        yield Pixie(base=base, db_path=db_path, user_ids=user_ids)


@pytest.fixture(scope="package")
def alice_session(pixie: Pixie) -> SignedIn:
    """alice signs in once (Argon2 is slow on purpose) and consents to the clients of ``_CONSENTED``."""
    with Browser(pixie) as browser:
        response = sign_in(browser, "alice")
        cookie = browser.session_cookie()
        assert cookie
        for client_id, redirect_uri in _CONSENTED.items():
            approve_consent(browser, client_id, redirect_uri)
        return SignedIn(cookie=cookie, set_cookie=_session_set_cookie(response))


def _session_set_cookie(response: httpx.Response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith("pixie-session=")]
    assert len(headers) == 1, headers
    return headers[0]


@pytest.fixture
def browser(pixie: Pixie) -> Iterator[Browser]:
    """A fresh browser: no cookies."""
    with Browser(pixie) as fresh:
        yield fresh


@pytest.fixture
def alice(pixie: Pixie, alice_session: SignedIn) -> Iterator[Browser]:
    """A browser carrying only alice's SSO session cookie (no leftover per-request cookies from other tests)."""
    with Browser(pixie, cookies={"pixie-session": alice_session.cookie}) as signed_in:
        yield signed_in


@pytest.fixture
def http(pixie: Pixie) -> Iterator[httpx.Client]:
    """A back-channel client (token endpoint, JWKS, metadata): no cookies kept between tests."""
    with pixie.client() as client:
        yield client
