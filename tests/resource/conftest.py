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

from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import Settings
from pixie.management import create_tenant, ensure_default_tenant, register_client
from pixie.server.app import create_app
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

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

    base: str

    @property
    def jwks_uri(self) -> str:
        return f"{self.base}/jwks.json"

    def mint(self, client_id: str = "writer", scope: str | None = None, tenant: str | None = None) -> str:
        """A fresh access token from the client-credentials grant (RFC 6749 §4.4)."""
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        prefix = f"/t/{tenant}" if tenant else ""
        response = httpx.post(f"{self.base}{prefix}/token", data=data, auth=(client_id, SECRETS[client_id]), timeout=20)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        keyring = KeyRing(storage.keys, MASTER_KEY)
        await ensure_default_tenant(storage, keyring)
        await create_tenant(storage, keyring, "other", settings=None)
        for client_id, (scopes, audiences) in CLIENTS.items():
            await register_client(
                storage,
                "default",
                client_id,
                redirect_uris=[],
                public=False,
                secret=SECRETS[client_id],
                scopes=scopes,
                grant_types=["client_credentials"],
                audiences=audiences,
            )
        await register_client(
            storage,
            "other",
            "writer",
            redirect_uris=[],
            public=False,
            secret=SECRETS["writer"],
            scopes=ALL_SCOPES,
            grant_types=["client_credentials"],
            audiences=[AUDIENCE],
        )


@pytest.fixture(scope="package")
def pixie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixie]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('resource') / 'pixie.db'}"
    run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER_KEY, housekeeping_interval=0
    )
    with serve_in_thread(create_app(settings), port) as base:
        yield Pixie(base)


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
