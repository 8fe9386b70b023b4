"""Development redirect URIs: a public browser app may register ``http://localhost:PORT/path`` (Vite's
``http://localhost:5173/callback``), matched exactly, port included. The any-port rule stays with loopback IP literals
registered without a port (native apps); ``localhost`` without a port, or for a confidential client, is refused at
registration with one line.

Spec: RFC 9700 §2.1, §4.1.3 (exact matching); RFC 8252 §7.3 (any port: IP literals only), §8.3 (``localhost`` is not
for native apps); OAuth 2.1 §2.3.1, §8.4.2; RFC 6749 §4.1.2.1 (an unmatched URI gets our page, never a redirect).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from livesupport import cli_env, run_pixie
from pixie.management import InvalidRegistration, register_client, validate_redirect_uri
from pixie.server.protocol.redirect_uris import match_redirect_uri
from pixie.storage.schema import open_storage
from spec.support import DEV_CB, Browser, Pkce, assert_error_page, authorize_pairs, redirect_params

DEV_ORIGIN = "http://localhost:5173"


@pytest.mark.parametrize(
    "uri", ["http://localhost:5173/callback", "http://localhost:3000/", "http://localhost:8080/auth/cb?app=1"]
)
def test_public_client_may_register_localhost_with_a_port(uri: str) -> None:
    """OAuth 2.1 §2.3.1: a browser app in development is served from ``http://localhost:PORT``."""
    assert validate_redirect_uri(uri, public=True) == uri


@pytest.mark.parametrize(
    ("uri", "public", "needle"),
    [
        pytest.param("http://localhost:5173/callback", False, "public browser apps", id="confidential[RFC8252-8.3]"),
        pytest.param("http://localhost/callback", True, "port", id="no-port[RFC9700-4.1.3]"),
        pytest.param("http://localhost:/callback", True, "port", id="empty-port[RFC3986-3.2.3]"),
        pytest.param("http://localhost:0/callback", True, "port", id="port-zero[RFC3986-3.2.3]"),
        pytest.param("http://user@localhost:5173/callback", True, "user information", id="userinfo[RFC9110-4.2.4]"),
        pytest.param("http://localhost:5173/callback#x", True, "fragment", id="fragment[RFC6749-3.1.2]"),
        pytest.param("http://localhost.evil.example:5173/cb", True, "https", id="lookalike-host[RFC9700-2.1]"),
    ],
)
def test_localhost_refusals(uri: str, public: bool, needle: str) -> None:
    """Only a public client, only with a real port, and every other rule still applies."""
    with pytest.raises(InvalidRegistration, match=needle) as caught:
        validate_redirect_uri(uri, public=public)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("presented", "matches"),
    [
        ("http://localhost:5173/callback", True),
        ("http://localhost:5174/callback", False),
        ("http://localhost/callback", False),
        ("http://localhost:80/callback", False),
        ("http://127.0.0.1:5173/callback", False),
        ("http://[::1]:5173/callback", False),
        ("http://LOCALHOST:5173/callback", False),
        ("http://localhost:5173/callback/", False),
        ("https://localhost:5173/callback", False),
    ],
)
def test_localhost_is_matched_exactly(presented: str, matches: bool) -> None:
    """RFC 8252 §7.3's any-port rule is for IP literals registered without a port; a ``localhost`` URI is compared
    character for character (RFC 9700 §4.1.3)."""
    assert match_redirect_uri([DEV_CB], presented) is matches


def test_localhost_redirect_gets_the_code(alice: Browser) -> None:
    """The registered development URI, exactly, receives the code (with ``iss``, RFC 9207)."""
    params = redirect_params(alice.authorize(authorize_pairs(client_id="dev-spa", redirect_uri=DEV_CB)), DEV_CB)
    assert "code" in params and "error" not in params and params["iss"] == alice.pixie.issuer


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param("http://localhost:5174/callback", id="other-port[RFC9700-4.1.3]"),
        pytest.param("http://localhost/callback", id="no-port[RFC9700-4.1.3]"),
        pytest.param("http://127.0.0.1:5173/callback", id="ip-for-name[RFC8252-8.3]"),
        pytest.param("http://localhost:5173/other", id="other-path[RFC9700-4.1.3]"),
    ],
)
def test_localhost_other_uris_get_our_page(alice: Browser, presented: str) -> None:
    """Even for a signed-in user who has consented: our error page (400), never a redirect."""
    assert_error_page(alice.authorize(authorize_pairs(client_id="dev-spa", redirect_uri=presented)), 400)


def test_dev_origin_may_redeem_the_code_cross_origin(alice: Browser, http: httpx.Client) -> None:
    """The app on the development server calls the token endpoint from its own origin, which is allowed by CORS
    (the origin of a registered redirect URI), and gets its tokens."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id="dev-spa", redirect_uri=DEV_CB, challenge=proof.challenge), DEV_CB)
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "dev-spa",
            "code": code,
            "code_verifier": proof.verifier,
            "redirect_uri": DEV_CB,
        },
        headers={"Origin": DEV_ORIGIN},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == DEV_ORIGIN
    assert response.json()["token_type"] == "Bearer"


def test_the_cli_registers_a_vite_app(tmp_path: Path) -> None:
    """``pixie clients create web-dev --public --redirect-uri http://localhost:5173/callback`` works; the same as a
    confidential client exits 2 with one line and stores nothing."""
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'pixie.db'}")
    created = run_pixie(["clients", "create", "web-dev", "--public", "--redirect-uri", DEV_CB], env)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["redirect_uris"] == [DEV_CB]
    refused = run_pixie(["clients", "create", "svc", "--generate-secret", "--redirect-uri", DEV_CB], env)
    assert refused.returncode == 2 and refused.stdout == ""
    errors = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("pixie: error: ") and "localhost" in errors[0], refused.stderr

    async def stored() -> object:
        async with open_storage(f"sqlite:///{tmp_path / 'pixie.db'}") as storage:
            return await storage.clients.get("default", "svc")

    assert asyncio.run(stored()) is None


def test_register_client_passes_the_client_type(tmp_path: Path) -> None:
    """``register_client`` applies the public-client rule itself (the CLI and admin API both go through it)."""

    async def register(public: bool) -> tuple[str, ...]:
        async with open_storage(f"sqlite:///{tmp_path / 'pixie.db'}") as storage:
            new = await register_client(
                storage, "default", f"dev-{public}", redirect_uris=[DEV_CB], public=public, secret=None, scopes=[]
            )
            return new.client.redirect_uris

    assert asyncio.run(register(True)) == (DEV_CB,)
    with pytest.raises(InvalidRegistration, match="localhost"):
        asyncio.run(register(False))


def test_the_cli_updates_a_client_to_a_dev_server(tmp_path: Path) -> None:
    """``pixie clients update`` checks as registration does: a public client may move to ``http://localhost:PORT``,
    a confidential one may not (exit 2, one line, nothing changed)."""
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'pixie.db'}")
    for args in (["spa", "--public"], ["svc", "--generate-secret"]):
        created = run_pixie(["clients", "create", *args, "--redirect-uri", "https://app.example/cb"], env)
        assert created.returncode == 0, created.stderr
    moved = run_pixie(["clients", "update", "spa", "--redirect-uri", DEV_CB, "--json"], env)
    assert moved.returncode == 0, moved.stderr
    assert DEV_CB in moved.stdout
    refused = run_pixie(["clients", "update", "svc", "--redirect-uri", DEV_CB], env)
    assert refused.returncode == 2 and "localhost" in refused.stderr and "Traceback" not in refused.stderr
    shown = run_pixie(["clients", "show", "svc", "--json"], env)
    assert json.loads(shown.stdout)["redirect_uris"] == ["https://app.example/cb"]
