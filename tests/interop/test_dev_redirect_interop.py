"""A strict third-party client (oauth4webapi) signs in through a development redirect URI,
``http://localhost:5173/callback`` (a Vite dev server's address), registered for a public client: Pixie redirects to
exactly that URI, port included, and the library accepts the response (``iss``, ``state``) and the token response.

Spec: RFC 9700 §4.1.3 (exact matching), RFC 8252 §8.3, RFC 9207, OAuth 2.1 §2.3.1.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.server.app import create_app
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

HERE = Path(__file__).resolve().parent
DEV = "http://localhost:5173/callback"
MASTER = b"interop-dev-master-key-32-bytes!!"


def node(*args: str) -> dict[str, object]:
    if not (HERE / "node_modules" / "oauth4webapi").is_dir():
        pytest.fail("tests/interop/node_modules is missing: `make test` runs `npm ci` there")
    result = subprocess.run(
        ["node", str(HERE / "strict_client.mjs"), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


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
    """Play the user: follow redirects, sign in and consent; return where Pixie finally redirects (not followed)."""
    form_fields = re.compile(r'name="(request|csrf_token)" value="([^"]*)"')
    with httpx.Client() as browser:
        response = browser.get(authorization_url)
        while response.status_code == 303 and not response.headers["location"].startswith(DEV):
            response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
            fields = dict(form_fields.findall(response.text))
            if "/login" in str(response.url):
                data = {**fields, "username": "dana", "password": "dana-password-1"}
                response = browser.post(str(response.url).split("?")[0], data=data)
            elif "/consent" in str(response.url):
                response = browser.post(str(response.url).split("?")[0], data={**fields, "decision": "approve"})
        assert response.status_code == 303, response.text[:300]
        location: str = response.headers["location"]
        return location


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
