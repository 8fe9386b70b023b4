"""ID tokens at the token endpoint: the claims Core §2 and §3.1.3.6 require, per-client algorithm, refresh.

Spec: OpenID Connect Core 1.0 §2, §3.1.3.3, §3.1.3.6, §3.1.3.7, §5.4, §12.2, §15.1.
"""

from __future__ import annotations

import httpx

from oidc.support import RP_CB, at_hash, sign_in_tokens, verify_id_token
from spec.support import Pixie, jwt_part


def test_code_flow_returns_a_valid_id_token(pixie: Pixie) -> None:
    """Core §3.1.3.3, §2: iss, sub, aud, exp, iat, auth_time, nonce, amr, sid, at_hash; no profile claims (an
    access token is issued beside it, so userinfo releases them, Core §5.4)."""
    tokens, browser = sign_in_tokens(pixie, "alice", nonce="n-0S6_WzA2Mj")
    browser.close()
    claims = verify_id_token(pixie, tokens["id_token"], nonce="n-0S6_WzA2Mj")
    assert claims["sub"] == pixie.user_ids["alice"]
    assert claims["amr"] == ["pwd"] and isinstance(claims["sid"], str) and isinstance(claims["auth_time"], int)
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    assert "azp" not in claims and "email" not in claims and "name" not in claims
    header = jwt_part(tokens["id_token"], 0)
    assert header["alg"] == "ES256" and header["typ"] == "JWT" and header["kid"]


def test_nonce_is_echoed_only_when_sent(pixie: Pixie) -> None:
    """Core §2: ``nonce`` is in the ID token exactly when the request had one, with the same value."""
    tokens, browser = sign_in_tokens(pixie, "bob")
    browser.close()
    assert "nonce" not in verify_id_token(pixie, tokens["id_token"])


def test_rs256_client_gets_rs256_id_tokens(pixie: Pixie, http: httpx.Client) -> None:
    """Core §15.1 (RS256 required of an OP) and Registration §2 (``id_token_signed_response_alg``): the ring holds an
    RS256 key, published in the JWKS, whose kid the token names."""
    tokens, browser = sign_in_tokens(pixie, "bob", client_id="rp-rs", nonce="abc")
    browser.close()
    header = jwt_part(tokens["id_token"], 0)
    assert header["alg"] == "RS256"
    published = {key["kid"]: key for key in http.get("/jwks.json").json()["keys"]}
    assert published[header["kid"]]["kty"] == "RSA"
    claims = verify_id_token(pixie, tokens["id_token"], client_id="rp-rs", nonce="abc")
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    # The access token keeps the tenant's algorithm.
    assert jwt_part(tokens["access_token"], 0)["alg"] == "ES256"


def test_refresh_issues_a_new_id_token(pixie: Pixie, http: httpx.Client) -> None:
    """Core §12.2: same iss, sub, aud, auth_time and sid as at sign-in, a new iat, no nonce."""
    tokens, browser = sign_in_tokens(pixie, "alice", nonce="first")
    browser.close()
    first = verify_id_token(pixie, tokens["id_token"], nonce="first")
    refreshed = http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "rp"}
    )
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    second = verify_id_token(pixie, body["id_token"])
    for claim in ("iss", "sub", "aud", "auth_time", "sid"):
        assert second[claim] == first[claim], claim
    assert "nonce" not in second and second["at_hash"] == at_hash(body["access_token"])
    narrowed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": "rp",
            "scope": "email",
        },
    )
    assert narrowed.status_code == 200 and "id_token" not in narrowed.json()


def test_no_id_token_without_openid(pixie: Pixie) -> None:
    """Core §3.1.2.1: without ``openid`` the request is plain OAuth 2.0, and no ID token is issued."""
    tokens, browser = sign_in_tokens(pixie, "bob", client_id="plain", scope="properties:read")
    browser.close()
    assert "id_token" not in tokens and tokens["access_token"]


def test_confidential_client_id_token(pixie: Pixie) -> None:
    """A confidential client authenticates at the token endpoint and gets its ID token the same way."""
    from oidc.conftest import WEB_SECRET
    from oidc.support import PASSWORDS
    from spec.support import Browser, Pkce, authorize_pairs, redirect_params

    proof = Pkce.new()
    with Browser(pixie) as browser:
        pairs = authorize_pairs(client_id="web", redirect_uri=RP_CB, scope="openid", challenge=proof.challenge)
        response = browser.submit_login(browser.login_page(pairs), "dave", PASSWORDS["dave"])
        if "/consent" in response.headers.get("location", ""):
            response = browser.submit_consent(browser.follow(response, "/consent"))
        code = redirect_params(response, RP_CB)["code"]
    with pixie.client() as http:
        answer = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": proof.verifier,
                "redirect_uri": RP_CB,
            },
            auth=("web", WEB_SECRET),
        )
    assert answer.status_code == 200, answer.text
    assert verify_id_token(pixie, answer.json()["id_token"], client_id="web")["sub"] == pixie.user_ids["dave"]
