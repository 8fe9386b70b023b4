"""A strict third-party client (oauth4webapi) signs in through a development redirect URI,
``http://localhost:5173/callback`` (a Vite dev server's address), registered for a public client: Pixie redirects to
exactly that URI, port included, and the library accepts the response (``iss``, ``state``) and the token response.

Spec: RFC 9700 §4.1.3 (exact matching), RFC 8252 §8.3, RFC 9207, OAuth 2.1 §2.3.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from interop_support import browse_to_callback, serving_one_client
from interop_support import node as run_node

DEV = "http://localhost:5173/callback"


def node(*args: str) -> dict[str, object]:
    return run_node("strict_client.mjs", *args)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving_one_client(tmp_path_factory.mktemp("interop-dev"), "vite-app", DEV, "dana", "dana-password-1") as url:
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
