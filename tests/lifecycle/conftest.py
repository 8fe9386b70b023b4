"""One real Pixie server for the token-lifecycle package (stopped when the package is done), on loopback, backed by
a fresh SQLite file that the tests also reach directly to move expiry timestamps into the past.

Default tenant:

==============  ============  ==========================  ===================  ==================================
client          type          grants                      scopes               used for
==============  ============  ==========================  ===================  ==================================
app             public        code, refresh (strict)      both                 refresh rotation, reuse, revocation
app-b           public        code, refresh               both                 "token of another client"
app-grace       public        code, refresh, grace 30 s   both                 identical retries
app-norefresh   public        code only                   both                 refresh grant not allowed
rs              confidential  client_credentials (Basic)  both                 resource server: introspection
svc-post        confidential  client_credentials (post)   properties:read      client_secret_post, scope default
web             confidential  code, refresh               both                 not registered for client_credentials
==============  ============  ==========================  ===================  ==================================

Every client but ``rs`` has the audience ``rs``: their tokens are meant for the resource server ``rs``, which may
therefore introspect them (RFC 7662 §4). ``rs``'s own tokens carry the issuer as audience.

Tenant ``other`` has its own keys, its own confidential ``rs`` (another secret) and its own public ``app``: same
client ids as in the default tenant, for foreign-tenant tokens. User ``alice`` (default tenant) signs in once and
consents to ``app``, ``app-b``, ``app-grace`` and ``web`` for both scopes.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lifecycle.support import GRACE_SECONDS, OTHER_RS_SECRET, POST_SECRET, RS_SECRET, SCOPES, WEB_SECRET
from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import Settings
from pixie.management import create_tenant, create_user, ensure_default_tenant, register_client
from pixie.server.app import create_app
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.support import PASSWORDS, SPA_CB, WEB_CB, Browser, Pixie, approve_consent, sign_in

MASTER_KEY = b"lifecycle-suite-master-key-32by!"
_CONSENTED = {"app": SPA_CB, "app-b": SPA_CB, "app-grace": SPA_CB, "web": WEB_CB}
GRANT_TYPES = ("authorization_code", "refresh_token")
RS_AUDIENCE = ["rs"]


async def _seed(database_url: str) -> dict[str, str]:
    async with open_storage(database_url) as storage:
        keyring = KeyRing(storage.keys, MASTER_KEY)
        await ensure_default_tenant(storage, keyring)

        async def public(client_id: str, grants: tuple[str, ...] = GRANT_TYPES, grace: int = 0) -> None:
            await register_client(
                storage,
                "default",
                client_id,
                redirect_uris=[SPA_CB],
                public=True,
                scopes=SCOPES,
                grant_types=grants,
                refresh_grace_seconds=grace,
                audiences=RS_AUDIENCE,
            )

        await public("app")
        await public("app-b")
        await public("app-grace", grace=GRACE_SECONDS)
        await public("app-norefresh", grants=("authorization_code",))
        await register_client(
            storage,
            "default",
            "rs",
            redirect_uris=[],
            public=False,
            secret=RS_SECRET,
            scopes=SCOPES,
            grant_types=["client_credentials"],
        )
        await register_client(
            storage,
            "default",
            "svc-post",
            redirect_uris=[],
            public=False,
            secret=POST_SECRET,
            scopes=["properties:read"],
            grant_types=["client_credentials"],
            auth_method="client_secret_post",
            audiences=RS_AUDIENCE,
        )
        await register_client(
            storage,
            "default",
            "web",
            redirect_uris=[WEB_CB],
            public=False,
            secret=WEB_SECRET,
            scopes=SCOPES,
            audiences=RS_AUDIENCE,
        )
        await create_tenant(storage, keyring, "other", settings=None)
        await register_client(
            storage,
            "other",
            "rs",
            redirect_uris=[],
            public=False,
            secret=OTHER_RS_SECRET,
            scopes=SCOPES,
            grant_types=["client_credentials"],
        )
        await register_client(
            storage, "other", "app", redirect_uris=[SPA_CB], public=True, scopes=SCOPES, grant_types=GRANT_TYPES
        )
        alice = await create_user(storage, "default", "alice", PASSWORDS["alice"])
        return {"alice": alice.user_id}


@pytest.fixture(scope="package")
def pixie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixie]:
    """The server under test; its tenants, clients and users are described in this module's docstring."""
    db_path = tmp_path_factory.mktemp("lifecycle") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    user_ids = run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        housekeeping_interval=0,  # no background purge or rotation racing the assertions
    )
    with serve_in_thread(create_app(settings), port) as base:
        yield Pixie(base=base, db_path=db_path, user_ids=user_ids)


@pytest.fixture(scope="package")
def alice_cookie(pixie: Pixie) -> str:
    """alice signs in once (Argon2 is slow on purpose) and consents to the public clients for both scopes."""
    with Browser(pixie) as browser:
        sign_in(browser, "alice", client_id="app")
        cookie = browser.session_cookie()
        assert cookie
        for client_id, redirect_uri in _CONSENTED.items():
            approve_consent(browser, client_id, redirect_uri, " ".join(SCOPES))
        return cookie


@pytest.fixture
def alice(pixie: Pixie, alice_cookie: str) -> Iterator[Browser]:
    """A browser carrying only alice's SSO session cookie."""
    with Browser(pixie, cookies={"pixie-session": alice_cookie}) as signed_in:
        yield signed_in


@pytest.fixture
def http(pixie: Pixie) -> Iterator[httpx.Client]:
    """A back-channel client (token, revocation, introspection): no cookies."""
    with pixie.client() as client:
        yield client
