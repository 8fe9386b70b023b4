"""One real Pixie server for the OpenID Connect suite, on loopback, backed by a fresh SQLite file.

Clients (default tenant): ``rp`` (public, ES256 ID tokens, logout URI ``…/bye``), ``rp-rs`` (public, RS256 ID
tokens), ``web`` (confidential, no refresh grant), ``plain`` (public, no OpenID scopes asked). Users: ``alice``
(full profile, verified email), ``bob`` (no profile), ``dave`` (for tests that end sessions).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_in_thread
from oidc.support import PASSWORDS, PROFILES, RP_BYE, RP_CB
from pixie.config import Settings
from pixie.management import Profile, create_user, ensure_default_tenant, register_client
from pixie.server.app import create_app
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.support import Pixie

MASTER_KEY = b"oidc-suite-master-key-32-bytes!!"
SCOPES = ("properties:read",)
WEB_SECRET = "web-oidc-secret-0123456789-abcdefghijklmn"


async def _seed(database_url: str) -> dict[str, str]:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        common = {"redirect_uris": [RP_CB], "scopes": SCOPES}
        await register_client(storage, "default", "rp", public=True, post_logout_redirect_uris=[RP_BYE], **common)
        await register_client(storage, "default", "rp-rs", public=True, id_token_signed_response_alg="RS256", **common)
        await register_client(
            storage, "default", "web", public=False, secret=WEB_SECRET, grant_types=["authorization_code"], **common
        )
        await register_client(storage, "default", "plain", public=True, **common)
        users = {}
        for username, password in PASSWORDS.items():
            fields = PROFILES.get(username)
            profile = Profile(**fields, email_verified=True) if fields else None
            users[username] = (await create_user(storage, "default", username, password, profile=profile)).user_id
        return users


@pytest.fixture(scope="package")
def pixie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixie]:
    db_path = tmp_path_factory.mktemp("oidc") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    user_ids = run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER_KEY)
    with serve_in_thread(create_app(settings), port) as base:
        yield Pixie(base=base, db_path=db_path, user_ids=user_ids)


@pytest.fixture
def http(pixie: Pixie) -> Iterator[httpx.Client]:
    with pixie.client() as client:
        yield client
