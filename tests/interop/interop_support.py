"""What the interoperability tests share: running a Node script of a third-party library, and playing the user
through Pixie's login and consent pages over plain HTTP."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

HERE = Path(__file__).resolve().parent
_MASTER = b"interop-suite-master-key-32bytes"
_FORM_FIELDS = re.compile(r'name="(request|csrf_token)" value="([^"]*)"')


def node(script: str, *args: str) -> dict[str, object]:
    """Run ``script`` (in this folder) with ``args``; its one JSON line of output."""
    if not (HERE / "node_modules" / "oauth4webapi").is_dir():
        pytest.fail("tests/interop/node_modules is missing: `make test` runs `npm ci` there")
    result = subprocess.run(
        ["node", str(HERE / script), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def browse_to_callback(authorization_url: str, redirect_uri: str, username: str, password: str) -> str:
    """Play the user: follow redirects, fill login and consent, return the redirect to the client."""
    with httpx.Client() as browser:
        response = browser.get(authorization_url)
        while response.status_code == 303 and not response.headers["location"].startswith(redirect_uri):
            response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
            if "/login" in str(response.url):
                fields = dict(_FORM_FIELDS.findall(response.text))
                response = browser.post(
                    str(response.url).split("?")[0], data={**fields, "username": username, "password": password}
                )
            elif "/consent" in str(response.url):
                fields = dict(_FORM_FIELDS.findall(response.text))
                response = browser.post(str(response.url).split("?")[0], data={**fields, "decision": "approve"})
        assert response.status_code == 303, response.text[:300]
        location: str = response.headers["location"]
        return location


@contextmanager
def serving_one_client(
    directory: Path, client_id: str, redirect_uri: str, username: str, password: str
) -> Iterator[str]:
    """A Pixie on loopback, on a fresh SQLite file in ``directory``, with one public client (scope
    ``properties:read``) and one user; yields its issuer."""

    async def seed(database_url: str) -> None:
        async with open_storage(database_url) as storage:
            await ensure_default_tenant(storage, KeyRing(storage.keys, _MASTER))
            await register_client(
                storage, "default", client_id, redirect_uris=[redirect_uri], public=True, scopes=["properties:read"]
            )
            await create_user(storage, "default", username, password)

    port = free_port()
    database_url = f"sqlite:///{directory / 'interop.db'}"
    run_coroutine(seed(database_url))
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=_MASTER)
    with serve_pixie(settings) as url:
        yield url
