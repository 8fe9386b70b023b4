"""Access tokens are RFC 9068 JWTs signed with a key published in the JWKS (issue 3 item 6).

Spec: RFC 9068 §2.1, §2.2, §2.2.1, §4; RFC 7515 §4.1.4 (``kid``); RFC 7517 §5; RFC 7638 §3.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc.jwk import KeySet

from pixie.resource.jws import JWSError, verify_jwt
from spec.support import WEB_CB, WEB_SECRET, Browser, Pixie, Pkce, SignedIn, authorize_pairs, token_request

_REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "scope", "exp", "iat", "jti", "auth_time")


@pytest.fixture(scope="module")
def issued(pixie: Pixie, alice_session: SignedIn) -> dict[str, Any]:
    """One token response for alice through client spa, with the JWKS fetched right after."""
    with Browser(pixie, cookies={"pixie-session": alice_session.cookie}) as alice, pixie.client() as http:
        proof = Pkce.new()
        code = alice.code(authorize_pairs(challenge=proof.challenge, scope="properties:read"))
        before = time.time()
        response = token_request(http, code, proof.verifier)
        assert response.status_code == 200, response.text
        return {"body": response.json(), "jwks": http.get("/jwks.json").json(), "before": before}


def test_signature_verifies_against_jwks(issued: dict[str, Any]) -> None:
    """RFC 9068 §4: the signature verifies with a key from the issuer's JWKS, chosen by ``kid``."""
    verified = verify_jwt(issued["body"]["access_token"], issued["jwks"])
    assert verified.claims["client_id"] == "spa"


def test_tampered_token_does_not_verify(issued: dict[str, Any]) -> None:
    """RFC 7515 §5.2: the control: a changed payload fails verification."""
    header, payload, signature = issued["body"]["access_token"].split(".")
    tampered = f"{header}.{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BB'}.{signature}"
    with pytest.raises(JWSError):
        verify_jwt(tampered, issued["jwks"])


def test_header(issued: dict[str, Any]) -> None:
    """RFC 9068 §2.1: ``typ`` is ``at+jwt``; ES256 by default (issue 3 item 6); ``kid`` names a published key."""
    verified = verify_jwt(issued["body"]["access_token"], issued["jwks"])
    assert verified.header["typ"] == "at+jwt"
    assert verified.header["alg"] == "ES256"
    kids = [key["kid"] for key in issued["jwks"]["keys"]]
    assert verified.header["kid"] in kids


def test_claims(pixie: Pixie, issued: dict[str, Any]) -> None:
    """RFC 9068 §2.2: ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat``, ``jti`` (and §2.2.1
    ``auth_time``, ``scope``), with ``iss`` the issuer, ``aud`` its default audience (the issuer), ``sub`` the
    user's stable id, ``exp - iat`` the advertised ``expires_in``."""
    body = issued["body"]
    claims = verify_jwt(body["access_token"], issued["jwks"]).claims
    for name in _REQUIRED_CLAIMS:
        assert name in claims, name
    assert claims["iss"] == pixie.issuer
    assert claims["aud"] == pixie.issuer
    assert claims["sub"] == pixie.user_ids["alice"]
    assert claims["client_id"] == "spa"
    assert claims["scope"] == body["scope"] == "properties:read"
    for name in ("exp", "iat", "auth_time"):
        assert type(claims[name]) is int, name
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert issued["before"] - 5 <= claims["iat"] <= time.time() + 5
    assert claims["auth_time"] <= claims["iat"]
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16


def test_jti_unique(alice: Browser, http: httpx.Client, issued: dict[str, Any]) -> None:
    """RFC 9068 §2.2 / RFC 7519 §4.1.7: every token has its own ``jti``."""
    proof = Pkce.new()
    body = token_request(http, alice.code(authorize_pairs(challenge=proof.challenge)), proof.verifier).json()
    first = verify_jwt(issued["body"]["access_token"], issued["jwks"]).claims["jti"]
    assert verify_jwt(body["access_token"], issued["jwks"]).claims["jti"] != first


def test_confidential_client_token(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 9068 §2.2: ``client_id`` is the client that redeemed the code."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id="web", redirect_uri=WEB_CB, challenge=proof.challenge), WEB_CB)
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": proof.verifier, "redirect_uri": WEB_CB}
    body = http.post("/token", data=data, auth=("web", WEB_SECRET)).json()
    claims = verify_jwt(body["access_token"], http.get("/jwks.json").json()).claims
    assert claims["client_id"] == "web" and claims["iss"] == pixie.issuer


def test_jwks_publishes_current_and_next(http: httpx.Client) -> None:
    """Issue 3 item 6 / RFC 7517 §5: current and next public keys; ``kid`` is the RFC 7638 §3 thumbprint; no
    private member ever."""
    response = http.get("/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) >= 2
    key_set = KeySet.import_key_set(response.json())
    for jwk, key in zip(keys, key_set.keys, strict=True):
        assert jwk["kid"] == key.thumbprint()
        assert jwk.get("use") == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk), "private key material published"
    assert len({jwk["kid"] for jwk in keys}) == len(keys)
