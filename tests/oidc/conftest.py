"""One real Pixie server for the OpenID Connect suite, on loopback, backed by a fresh SQLite file.

Clients (default tenant): ``rp`` (public, ES256 ID tokens, logout URI ``…/bye``), ``rp-rs`` (public, RS256 ID
tokens), ``web`` (confidential, no refresh grant), ``plain`` (public, no OpenID scopes asked), ``cli`` (native app,
loopback redirect ``http://127.0.0.1/callback``). Users: ``alice``
(full profile, verified email), ``bob`` (no profile), ``dave`` (for tests that end sessions). A second tenant,
``acme``, has no clients: it is there for per-tenant discovery.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from livesupport import free_port, run_coroutine
from oidc.support import PASSWORDS, PROFILES, RP_BYE, RP_CB
from pixie.config import Settings
from pixie.management import Profile, create_tenant, create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.testing import PixieTestServer
from pixie.tokens.keys import KeyRing, RotationReport
from spec.support import Pixie

MASTER_KEY = b"oidc-suite-master-key-32-bytes!!"
SCOPES = ("properties:read",)
WEB_SECRET = "web-oidc-secret-0123456789-abcdefghijklmn"


async def _seed(database_url: str) -> dict[str, str]:
    async with open_storage(database_url) as storage:
        keyring = KeyRing(storage.keys, MASTER_KEY)
        await ensure_default_tenant(storage, keyring)
        await create_tenant(storage, keyring, "acme", settings=None)
        common = {"redirect_uris": [RP_CB], "scopes": SCOPES}
        await register_client(storage, "default", "rp", public=True, post_logout_redirect_uris=[RP_BYE], **common)
        await register_client(storage, "default", "rp-rs", public=True, id_token_signed_response_alg="RS256", **common)
        await register_client(
            storage, "default", "web", public=False, secret=WEB_SECRET, grant_types=["authorization_code"], **common
        )
        await register_client(storage, "default", "plain", public=True, **common)
        await register_client(
            storage, "default", "cli", public=True, redirect_uris=["http://127.0.0.1/callback"], scopes=SCOPES
        )
        users = {}
        for username, password in PASSWORDS.items():
            fields = PROFILES.get(username)
            profile = Profile(**fields, email_verified=True) if fields else None
            users[username] = (await create_user(storage, "default", username, password, profile=profile)).user_id
        return users


@dataclass(frozen=True)
class Served:
    """The server under test, with its app (to drop its key cache) and database URL (to rotate keys from outside,
    as ``pixie keys rotate`` would)."""

    pixie: Pixie
    app: Starlette
    database_url: str

    def rotate_keys(self) -> RotationReport:
        report = run_coroutine(_rotate(self.database_url))
        self.app.state.pixie.keyring.invalidate("default")  # stands in for the key ring's cache time
        return report


async def _rotate(database_url: str) -> RotationReport:
    async with open_storage(database_url) as storage:
        return await KeyRing(storage.keys, MASTER_KEY).rotate("default", retire_after=3600)


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db_path = tmp_path_factory.mktemp("oidc") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    user_ids = run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER_KEY, housekeeping_interval=0
    )
    with PixieTestServer(settings) as server:
        yield Served(Pixie(base=server.base_url, db_path=db_path, user_ids=user_ids), server.app, database_url)


@pytest.fixture(scope="package")
def pixie(served: Served) -> Pixie:
    return served.pixie


@pytest.fixture
def http(pixie: Pixie) -> Iterator[httpx.Client]:
    with pixie.client() as client:
        yield client
