"""Helpers of the OpenID Connect suite: the served Pixie's clients and users, and an RP's own checks of an ID token
(with joserfc, not Pixie's code)."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from spec.support import Browser, Pixie, Pkce, authorize_pairs, hidden_fields, redirect_params

RP_CB = "http://127.0.0.1:9999/cb"
RP_BYE = "http://127.0.0.1:9999/bye"
RP_SCOPE = "openid profile email"
PASSWORDS = {"alice": "alice-oidc-password", "bob": "bob-oidc-password", "dave": "dave-oidc-password"}
PROFILES = {
    "alice": {"name": "Alice Smith", "given_name": "Alice", "family_name": "Smith", "email": "alice@example.com"},
}


def oidc_pairs(client_id: str = "rp", **values: str) -> list[tuple[str, str]]:
    values.setdefault("scope", RP_SCOPE)
    return authorize_pairs(client_id=client_id, redirect_uri=RP_CB, **values)


def log_in(browser: Browser, pairs: list[tuple[str, str]], username: str) -> dict[str, str]:
    """Through login (and consent, if asked) to the client's redirect; the redirect's parameters."""
    response = browser.submit_login(browser.login_page(pairs), username, PASSWORDS[username])
    if "/consent" in response.headers.get("location", ""):
        response = browser.submit_consent(browser.follow(response, "/consent"))
    return redirect_params(response, RP_CB)


def consent_page_fields(page: httpx.Response) -> dict[str, str]:
    return hidden_fields(page.text)


def redeem(http: httpx.Client, code: str, verifier: str, client_id: str = "rp") -> dict[str, Any]:
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": client_id,
            "redirect_uri": RP_CB,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sign_in_tokens(
    pixie: Pixie, username: str, *, client_id: str = "rp", **values: str
) -> tuple[dict[str, Any], Browser]:
    """A full sign-in of ``username`` (fresh browser) and the token response; the browser stays open (close it)."""
    proof = Pkce.new()
    browser = Browser(pixie)
    params = log_in(browser, oidc_pairs(client_id, challenge=proof.challenge, **values), username)
    assert "code" in params, params
    with pixie.client() as http:
        return redeem(http, params["code"], proof.verifier, client_id), browser


def verify_id_token(pixie: Pixie, token: str, *, client_id: str = "rp", nonce: str | None = None) -> dict[str, Any]:
    """An RP's validation of an ID token (Core §3.1.3.7) with joserfc and the published JWKS."""
    with pixie.client() as http:
        keys = KeySet.import_key_set(http.get("/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256", "RS256"])
    claims = dict(decoded.claims)
    assert claims["iss"] == pixie.issuer
    assert claims["aud"] == client_id
    assert claims["iat"] <= time.time() + 5 < claims["exp"] + 5
    if nonce is not None:
        assert claims["nonce"] == nonce
    return claims


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")
