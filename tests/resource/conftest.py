"""A real Pixie server for the resource-server suite (package scope), on loopback, plus a tiny issuer.

Default tenant (issuer = ``pixie.base``), all confidential ``client_credentials`` clients:

==========  =========================================  =======================  ==============================
client      scopes                                     audiences                used for
==========  =========================================  =======================  ==============================
writer      properties:read properties:write tenants:read  https://api.example  the happy path, every scope
reader      properties:read                            https://api.example      403 insufficient_scope
elsewhere   all                                        https://other.example    wrong audience
(AUDIENCE)  all                                        (issuer)                 introspection caller
==========  =========================================  =======================  ==============================

The introspecting resource server is registered under the client id ``https://api.example`` (``AUDIENCE``): Pixie
answers an introspection in full only to a client named in the token's ``aud`` (or the token's own client).

Tenant ``other`` (issuer ``{base}/t/other``, its own keys) has its own ``writer`` for the audience: a token of
another issuer.

This directory has no ``__init__.py`` on purpose: a package named ``resource`` on ``sys.path`` would shadow the
standard library's ``resource`` module (prometheus_client imports it), so the modules here have unique names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from resource_support import ALL_SCOPES, AUDIENCE, SECRETS, TinyIssuer, running

from pixie.testing import PixieTestServer

MASTER_KEY = b"resource-suite-master-key-32byt!"
CLIENTS = {
    "writer": (ALL_SCOPES, [AUDIENCE]),
    "reader": (("properties:read",), [AUDIENCE]),
    "elsewhere": (ALL_SCOPES, ["https://other.example"]),
    AUDIENCE: (ALL_SCOPES, []),
}


@dataclass(frozen=True)
class Pixie:
    """The running authorization server."""

    server: PixieTestServer

    @property
    def base(self) -> str:
        return self.server.base_url

    @property
    def jwks_uri(self) -> str:
        return f"{self.base}/jwks.json"

    def mint(self, client_id: str = "writer", scope: str | None = None, tenant: str | None = None) -> str:
        """A fresh access token from the client-credentials grant (RFC 6749 §4.4)."""
        tokens = self.server.client_credentials_token(client_id, scope=scope or (), tenant=tenant or "default")
        return tokens.access_token


@pytest.fixture(scope="package")
def pixie() -> Iterator[Pixie]:
    """The server, started and seeded through :mod:`pixie.testing`; its clients are in this module's docstring."""
    with PixieTestServer(master_key=MASTER_KEY, housekeeping_interval=0) as server:
        server.add_tenant("other")
        for client_id, (scopes, audiences) in CLIENTS.items():
            server.add_client(
                client_id,
                confidential=True,
                secret=SECRETS[client_id],
                grant_types=["client_credentials"],
                scope=scopes,
                audience=audiences,
            )
        server.add_client(
            "writer",
            tenant="other",
            confidential=True,
            secret=SECRETS["writer"],
            grant_types=["client_credentials"],
            scope=ALL_SCOPES,
            audience=[AUDIENCE],
        )
        yield Pixie(server)


@pytest.fixture(scope="package")
def tiny_server() -> Iterator[TinyIssuer]:
    with running(TinyIssuer()) as issuer:
        yield issuer


@pytest.fixture
def tiny(tiny_server: TinyIssuer) -> TinyIssuer:
    """The tiny issuer, reset: no keys, healthy, fast, honest; hit counters at zero."""
    base = tiny_server.base
    tiny_server.reset()
    tiny_server.base = base
    return tiny_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """One HTTP client for the test's caches and verifiers, closed after the test (no leaked sockets)."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
