"""A strict third-party client (oauth4webapi) signs in through a development redirect URI,
``http://localhost:5173/callback`` (a Vite dev server's address), registered for a public client: Pixie redirects to
exactly that URI, port included, and the library accepts the response (``iss``, ``state``) and the token response.

Spec: RFC 9700 §4.1.3 (exact matching), RFC 8252 §8.3, RFC 9207, OAuth 2.1 §2.3.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from interop_support import browse_to_callback
from interop_support import node as run_node

from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.server.app import create_app
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

DEV = "http://localhost:5173/callback"
MASTER = b"interop-dev-master-key-32-bytes!!"


def node(*args: str) -> dict[str, object]:
    return run_node("strict_client.mjs", *args)


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER))
        await register_client(
            storage, "default", "vite-app", redirect_uris=[DEV], public=True, scopes=["properties:read"]
        )
        await create_user(storage, "default", "dana", "dana-password-1")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    database_url = f"sqlite:///{tmp_path_factory.mktemp('interop-dev') / 'interop.db'}"
    run_coroutine(_seed(database_url))
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER)
    with serve_in_thread(create_app(settings), port) as url:
        yield url


def _browse_to_callback(authorization_url: str) -> str:
    return browse_to_callback(authorization_url, DEV, "dana", "dana-password-1")


def test_strict_client_signs_in_through_localhost(issuer: str) -> None:
    started = node("start", issuer, "vite-app", DEV, "properties:read")
    callback = _browse_to_callback(str(started["url"]))
    assert callback.startswith(DEV + "?")  # exactly the registered URI, port included
    result = node("finish", issuer, "vite-app", DEV, str(started["state"]), str(started["verifier"]), callback)
    assert result["ok"] is True and result["scope"] == "properties:read", result


def test_another_port_is_not_redirected_to(issuer: str) -> None:
    """The library would happily start a flow for :5174; Pixie refuses it on its own page, never redirecting."""
    started = node("start", issuer, "vite-app", "http://localhost:5174/callback", "properties:read")
    response = httpx.get(str(started["url"]))
    assert response.status_code == 400 and "location" not in response.headers
