"""Pixie's own client as a relying party: it asks for ``openid``, sends a nonce, validates the ID token (signature
through the JWKS, iss, aud, exp, nonce, auth_time against max_age), reads userinfo and builds the logout URL; and
``pixie login`` prints the validated claims.

Spec: OpenID Connect Core 1.0 §3.1.2.1, §3.1.3.7, §5.3, §12.2; RP-Initiated Logout 1.0 §2.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from client.support import LoginProcess
from livesupport import cli_env
from oidc.support import PASSWORDS, RP_BYE, RP_CB
from pixie.client import OAuthClient, ProtocolViolation
from spec.support import Browser, Pixie


def _follow(browser: Browser, url: str, username: str = "alice") -> str:
    """What the user's browser does: sign in when asked, approve consent when asked; the final redirect."""
    response = browser.http.get(url)
    if urlsplit(response.headers["location"]).path == "/login":
        page = browser.follow(response, "/login")
        response = browser.submit_login(page, username, PASSWORDS[username])
    if urlsplit(response.headers["location"]).path == "/consent":
        response = browser.submit_consent(browser.follow(response, "/consent"))
    location: str = response.headers["location"]
    return location


def test_sign_in_validates_the_id_token_and_reads_userinfo(pixie: Pixie) -> None:
    with OAuthClient(pixie.issuer, "rp") as client, Browser(pixie) as browser:
        start = client.start_authorization(RP_CB, "openid profile email", max_age=600)
        sent = parse_qs(urlsplit(start.url).query)
        assert sent["nonce"] == [start.transaction.nonce] and sent["max_age"] == ["600"]
        tokens = client.complete_authorization(start.transaction, _follow(browser, start.url))
        assert tokens.claims is not None and tokens.id_token
        assert tokens.claims["sub"] == pixie.user_ids["alice"] and tokens.claims["nonce"] == start.transaction.nonce
        info = client.userinfo(tokens)
        assert info["name"] == "Alice Smith" and info["email"] == "alice@example.com"
        refreshed = client.refresh(tokens)
        assert refreshed.claims is not None and refreshed.claims["sub"] == tokens.claims["sub"]
        assert refreshed.id_token != tokens.id_token
        logout = client.end_session_url(refreshed, post_logout_redirect_uri=RP_BYE, state="s1")
        assert logout.startswith(pixie.issuer + "/end_session?")
        done = browser.http.get(logout)
        assert done.status_code == 303 and done.headers["location"] == RP_BYE + "?state=s1"


def test_a_wrong_nonce_is_refused(pixie: Pixie) -> None:
    """Core §3.1.3.7 step 11: the transaction's nonce must come back; here the transaction was tampered with."""
    with OAuthClient(pixie.issuer, "rp") as client, Browser(pixie) as browser:
        start = client.start_authorization(RP_CB, "openid")
        callback = _follow(browser, start.url, "bob")
        start.transaction.nonce = "not-the-one-sent"
        with pytest.raises(ProtocolViolation) as refused:
            client.complete_authorization(start.transaction, callback)
        assert refused.value.code == "invalid_id_token" and "nonce" in str(refused.value)


def test_max_age_is_checked_against_auth_time(pixie: Pixie) -> None:
    """Core §3.1.3.7 step 13: with max_age, an auth_time older than allowed is refused by the client even if the
    server let it pass (the transaction asks for less than the server was sent)."""
    with OAuthClient(pixie.issuer, "rp") as client, Browser(pixie) as browser:
        first = client.start_authorization(RP_CB, "openid")
        client.complete_authorization(first.transaction, _follow(browser, first.url, "bob"))
        import time

        time.sleep(1.2)
        start = client.start_authorization(RP_CB, "openid", max_age=100)
        callback = _follow(browser, start.url, "bob")
        start.transaction.max_age = -100  # stands in for a server that ignored max_age
        with pytest.raises(ProtocolViolation) as refused:
            client.complete_authorization(start.transaction, callback)
        assert "max_age" in str(refused.value)


def test_pixie_login_prints_the_claims(pixie: Pixie, tmp_path: Path) -> None:
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    args = ["--issuer", pixie.issuer, "--client-id", "cli", "--scope", "openid email", "--no-browser"]
    process = LoginProcess([*args, "--timeout", "30"], env)
    with Browser(pixie) as browser:
        callback = _follow(browser, process.authorization_url())
        assert browser.http.get(callback).status_code == 200
    code, stdout, stderr = process.finish()
    assert code == 0, stderr
    printed = json.loads(stdout)
    assert printed["id_token"] and printed["id_token_claims"]["sub"] == pixie.user_ids["alice"]
    assert printed["id_token_claims"]["iss"] == pixie.issuer and printed["id_token_claims"]["aud"] == "cli"
