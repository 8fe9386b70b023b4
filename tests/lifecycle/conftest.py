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
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifecycle.support import GRACE_SECONDS, OTHER_RS_SECRET, POST_SECRET, RS_SECRET, SCOPES, WEB_SECRET
from pixie.testing import PixieTestServer
from spec.support import PASSWORDS, SPA_CB, WEB_CB, Browser, Pixie, approve_consent, sign_in

MASTER_KEY = b"lifecycle-suite-master-key-32by!"
_CONSENTED = {"app": SPA_CB, "app-b": SPA_CB, "app-grace": SPA_CB, "web": WEB_CB}
GRANT_TYPES = ("authorization_code", "refresh_token")
RS_AUDIENCE = ["rs"]


@pytest.fixture(scope="package")
def pixie() -> Iterator[Pixie]:
    """The server under test, started and seeded through :mod:`pixie.testing`; its tenants, clients and users are
    described in this module's docstring."""
    # housekeeping_interval=0: no background purge or rotation racing the assertions.
    with PixieTestServer(master_key=MASTER_KEY, housekeeping_interval=0) as server:

        def public(client_id: str, grants: tuple[str, ...] = GRANT_TYPES, grace: int = 0) -> None:
            server.add_client(
                client_id,
                redirect_uri=SPA_CB,
                scope=SCOPES,
                grant_types=grants,
                refresh_grace_seconds=grace,
                audience=RS_AUDIENCE,
            )

        def machine(client_id: str, secret: str, tenant: str = "default", **options: Any) -> None:
            server.add_client(
                client_id,
                confidential=True,
                secret=secret,
                grant_types=["client_credentials"],
                tenant=tenant,
                **{"scope": SCOPES, **options},
            )

        public("app")
        public("app-b")
        public("app-grace", grace=GRACE_SECONDS)
        public("app-norefresh", grants=("authorization_code",))
        machine("rs", RS_SECRET)
        machine(
            "svc-post", POST_SECRET, scope=["properties:read"], auth_method="client_secret_post", audience=RS_AUDIENCE
        )
        server.add_client(
            "web", confidential=True, secret=WEB_SECRET, redirect_uri=WEB_CB, scope=SCOPES, audience=RS_AUDIENCE
        )
        server.add_tenant("other")
        machine("rs", OTHER_RS_SECRET, tenant="other")
        server.add_client("app", tenant="other", redirect_uri=SPA_CB, scope=SCOPES, grant_types=GRANT_TYPES)
        alice = server.add_user("alice", PASSWORDS["alice"])
        db_path = Path(server.database_url.removeprefix("sqlite:///"))
        yield Pixie(base=server.base_url, db_path=db_path, user_ids={"alice": alice.subject})


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
