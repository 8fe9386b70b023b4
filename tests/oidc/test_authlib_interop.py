"""Authlib's OpenID Connect client (a third-party relying party) signs a user in at Pixie: code flow with PKCE and
nonce over real loopback HTTP, the ID token validated by Authlib (signature through the JWKS, iss, aud, exp, nonce,
at_hash), userinfo read, and the logout URL followed — on SQLite (the suite's server) and on PostgreSQL behind
``pixie serve --workers 2``.

Spec: OpenID Connect Core 1.0 §3.1, §5.3; Discovery 1.0 §4; RP-Initiated Logout 1.0 §2.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session

from livesupport import cli_env, free_port, pixie_process, run_coroutine
from oidc.conftest import MASTER_KEY, _seed
from oidc.support import PASSWORDS, RP_BYE, RP_CB
from pgsupport import temporary_postgres_database
from spec.support import Pixie


class _NoFramework:
    """Authlib's apps report refreshed tokens to their web framework; this relying party keeps none."""

    def update_token(self, token: dict[str, Any], refresh_token: str | None = None, access_token: str | None = None):  # type: ignore[no-untyped-def]
        return None


class AuthlibRelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):  # type: ignore[misc]
    """Authlib's OpenID client as its framework integrations assemble it (Flask's, Django's), on ``requests``."""

    client_cls = OAuth2Session


def _relying_party(issuer: str) -> AuthlibRelyingParty:
    return AuthlibRelyingParty(
        _NoFramework(),
        "pixie",
        client_id="rp",
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )


def _browse(issuer: str, url: str, username: str) -> str:
    """A user's browser: follow the server's redirects, fill login and consent; the redirect back to the RP."""
    fields = re.compile(r'name="(request|csrf_token)" value="([^"]*)"')
    with httpx.Client(base_url=issuer) as browser:
        response = browser.get(url)
        while response.status_code == 303 and not response.headers["location"].startswith(RP_CB):
            page = browser.get(response.headers["location"])
            form = dict(fields.findall(page.text))
            if "/login" in str(page.url):
                data = {**form, "username": username, "password": PASSWORDS[username]}
                response = browser.post(page.url.path, data=data)
            else:
                response = browser.post(page.url.path, data={**form, "decision": "approve"})
        assert response.status_code == 303, response.text[:300]
        location: str = response.headers["location"]
        return location


def _sign_in_with_authlib(issuer: str, expected_sub: str) -> None:
    rp = _relying_party(issuer)
    start = rp.create_authorization_url(redirect_uri=RP_CB)
    sent = dict(parse_qsl(urlsplit(start["url"]).query))
    assert sent["code_challenge_method"] == "S256" and sent["nonce"] == start["nonce"]
    callback = dict(parse_qsl(urlsplit(_browse(issuer, start["url"], "alice")).query))
    assert callback["state"] == start["state"] and callback["iss"] == issuer
    token = rp.fetch_access_token(redirect_uri=RP_CB, code=callback["code"], code_verifier=start["code_verifier"])
    user = rp.parse_id_token(token, nonce=start["nonce"])  # Authlib's own ID token validation (raises on failure)
    assert user["sub"] == expected_sub and user["iss"] == issuer and user["aud"] == "rp"
    info = rp.userinfo(token=token)
    assert info["sub"] == expected_sub
    assert (info["name"], info["email"], info["email_verified"]) == ("Alice Smith", "alice@example.com", True)
    with pytest.raises(Exception, match="nonce"):  # a replayed response with another nonce is refused
        rp.parse_id_token(token, nonce="another-nonce")
    logout = rp.create_logout_url(post_logout_redirect_uri=RP_BYE, id_token_hint=token["id_token"], client_id="rp")
    answer = httpx.get(logout["url"])
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{RP_BYE}?state={logout['state']}"


def test_authlib_signs_in_on_sqlite(pixie: Pixie) -> None:
    _sign_in_with_authlib(pixie.issuer, pixie.user_ids["alice"])


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """``pixie serve --workers 2`` on a fresh PostgreSQL database, seeded like the suite's SQLite server."""
    workdir: Path = tmp_path_factory.mktemp("oidc-pg")

    async def make() -> tuple[str, Any]:
        manager = temporary_postgres_database()
        url = await manager.__aenter__()
        return url, manager

    url, manager = run_coroutine(make())
    try:
        user_ids = run_coroutine(_seed(url))
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        env = cli_env(workdir, url, {"PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER_KEY).decode("ascii")})
        args = ["serve", "--port", str(port), "--issuer", issuer, "--workers", "2"]
        with pixie_process(args, env, f"{issuer}/readyz", timeout=60):
            yield issuer, user_ids
    finally:
        run_coroutine(manager.__aexit__(None, None, None))


@pytest.mark.postgres
def test_authlib_signs_in_on_postgresql_with_two_workers(postgres_server: tuple[str, dict[str, str]]) -> None:
    issuer, user_ids = postgres_server
    for _ in range(3):  # several sign-ins, so both workers answer some of the requests
        _sign_in_with_authlib(issuer, user_ids["alice"])
