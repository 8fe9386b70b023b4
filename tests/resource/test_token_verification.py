"""The verifier table: tokens minted by the real Pixie server, and hostile ones made by hand, against
:class:`JWTVerifier`.

Spec: RFC 9068 §4 (validation), §2.1 (``typ``), §2.2 (claims); RFC 8725 §3.1–3.2 (algorithms), RFC 7515 §5.2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from resource_support import AUDIENCE, TinyIssuer, b64, b64json, hmac_token, parts

from pixie.errors import InvalidToken
from pixie.resource import AccessToken, JWKSCache, JWTVerifier

Pixie = Any  # conftest.Pixie (a fixture type; conftest modules are not imported by name)


def pixie_verifier(pixie: Pixie, http: httpx.AsyncClient, **kwargs: Any) -> JWTVerifier:
    return JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri, http=http), **kwargs)


def tiny_verifier(tiny: TinyIssuer, http: httpx.AsyncClient, **kwargs: Any) -> JWTVerifier:
    return JWTVerifier(tiny.base, AUDIENCE, jwks=JWKSCache(f"{tiny.base}/jwks.json", http=http, **kwargs))


async def rejected(verifier: JWTVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    assert token not in caught.value.description  # the description never echoes the token
    return caught.value.description


async def test_a_real_token_verifies_through_discovery(pixie: Pixie) -> None:
    """RFC 9068 §4 with the JWKS found through RFC 8414 metadata: all fields come from the claims."""
    verifier = JWTVerifier(pixie.base, AUDIENCE)
    token = pixie.mint("writer", "properties:read tenants:read")
    verified = await verifier.verify(token)
    claims = parts(token)[1]
    assert isinstance(verified, AccessToken)
    assert verified.subject == verified.client_id == "writer"
    assert verified.scopes == {"properties:read", "tenants:read"}
    assert verified.has_scopes("properties:read") and not verified.has_scopes("properties:write")
    assert verified.issuer == pixie.base and verified.audience == (AUDIENCE,)
    assert verified.expires_at == claims["exp"] and verified.token_id == claims["jti"]
    assert verified.claims["client_id"] == "writer"
    with pytest.raises(TypeError):
        verified.claims["scope"] = "admin"  # type: ignore[index]
    assert verifier.jwks.jwks_uri == pixie.jwks_uri  # type: ignore[attr-defined]
    await verifier.aclose()


def _swap_header(token: str, **changes: Any) -> str:
    header, _, _ = parts(token)
    header.update(changes)
    _, payload, signature = token.split(".")
    return f"{b64json(header)}.{payload}.{signature}"


def _swap_claims(token: str, **changes: Any) -> str:
    _, claims, _ = parts(token)
    claims.update(changes)
    header, _, signature = token.split(".")
    return f"{header}.{b64json(claims)}.{signature}"


def _public_jwk(pixie: Pixie, token: str) -> dict[str, Any]:
    kid = parts(token)[0]["kid"]
    key: dict[str, Any] = next(k for k in httpx.get(pixie.jwks_uri).json()["keys"] if k["kid"] == kid)
    return key


REAL_CASES: list[tuple[str, Callable[[Pixie], str], dict[str, Any], str]] = [
    ("wrong-aud", lambda p: p.mint("elsewhere"), {}, "another audience"),
    ("expired", lambda p: p.mint(), {"clock": lambda: time.time() + 3600}, "expired"),
    ("issued-in-the-future", lambda p: p.mint(), {"clock": lambda: time.time() - 3600}, "issued in the future"),
    ("other-tenant", lambda p: p.mint(tenant="other"), {}, "unknown key"),
    ("tampered-payload", lambda p: _swap_claims(p.mint("reader"), scope="properties:write"), {}, "bad signature"),
    ("tampered-sub", lambda p: _swap_claims(p.mint(), sub="admin"), {}, "bad signature"),
    ("tampered-header-kid", lambda p: _swap_header(p.mint(), kid="x" * 43), {}, "unknown key"),
    ("alg-none", lambda p: _swap_header(p.mint(), alg="none").rsplit(".", 1)[0] + ".", {}, "not allowed"),
    ("alg-None", lambda p: _swap_header(p.mint(), alg="None").rsplit(".", 1)[0] + ".", {}, "not allowed"),
    ("truncated-signature", lambda p: p.mint()[:-4], {}, "signature"),
    ("signature-padded", lambda p: p.mint() + "==", {}, "bad signature"),
    ("two-parts", lambda p: p.mint().rsplit(".", 1)[0], {}, "malformed"),
    ("not-ascii", lambda p: p.mint() + "é", {}, "malformed"),
    ("oversized", lambda p: p.mint().replace(".", "." + "A" * 10000, 1), {}, "malformed"),
]


@pytest.mark.parametrize(("build", "kwargs", "why"), [c[1:] for c in REAL_CASES], ids=[c[0] for c in REAL_CASES])
async def test_real_tokens_rejected(
    pixie: Pixie, http: httpx.AsyncClient, build: Callable[[Pixie], str], kwargs: dict[str, Any], why: str
) -> None:
    """Each row breaks one RFC 9068 §4 rule on a token the real server issued."""
    assert why in await rejected(pixie_verifier(pixie, http, **kwargs), build(pixie))


async def test_wrong_issuer(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """RFC 9068 §4 step 2: ``iss`` must equal the configured issuer exactly — even with the right keys."""
    verifier = JWTVerifier(pixie.base + "/", AUDIENCE, jwks=JWKSCache(pixie.jwks_uri, http=http))
    assert "another issuer" in await rejected(verifier, pixie.mint())


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("secret_form", ["jwk-json", "x-coordinate", "pem"])
async def test_hmac_with_the_public_key_as_secret(
    pixie: Pixie, http: httpx.AsyncClient, alg: str, secret_form: str
) -> None:
    """RFC 8725 §3.2: an attacker signs with HMAC using the published public key as the secret; the verifier
    must never treat the public key as an HMAC key."""
    from joserfc.jwk import ECKey

    real = pixie.mint()
    header, claims, _ = parts(real)
    claims["scope"] = "properties:write admin"
    jwk = _public_jwk(pixie, real)
    secret = {
        "jwk-json": json.dumps(jwk).encode(),
        "x-coordinate": jwk["x"].encode(),
        "pem": ECKey.import_key(jwk).as_pem(private=False),
    }[secret_form]
    forged = hmac_token({**header, "alg": alg}, claims, secret)
    assert "not allowed" in await rejected(pixie_verifier(pixie, http), forged)


@pytest.mark.parametrize("configured", [["none"], ["NONE"], ["HS256"], ["ES256", "hs512"], ["XS999"], []])
def test_dangerous_or_unknown_algorithms_refused_at_construction(pixie: Pixie, configured: list[str]) -> None:
    """RFC 8725 §3.1: ``none`` and HMAC are refused loudly, even when configured."""
    with pytest.raises(ValueError):
        JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri), algorithms=configured)


async def test_algorithm_outside_the_allow_list(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """RFC 8725 §3.1: a valid ES256 token is refused by a verifier that allows only RS256."""
    verifier = pixie_verifier(pixie, http, algorithms=["RS256"])
    assert "not allowed" in await rejected(verifier, pixie.mint())


async def test_key_type_must_match_alg(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """RFC 8725 §3.1, RFC 7518 §3.1: an RS256 header over an EC key is refused before any RSA math."""
    tiny.add_key("k1")
    token = tiny.sign(tiny.claims(), "k1")
    _, payload, _ = token.split(".")
    forged = f"{b64json({'alg': 'RS256', 'typ': 'at+jwt', 'kid': 'k1'})}.{payload}.{b64(b'x' * 256)}"
    assert "unknown key" in await rejected(tiny_verifier(tiny, http), forged)  # no key under k1 is usable for RS256


class FromNow:
    """A time claim computed when the test runs, not when the module is imported (a slow run must not age it)."""

    def __init__(self, seconds: int, *, as_text: bool = False) -> None:
        self.seconds, self.as_text = seconds, as_text

    def value(self) -> int | str:
        stamp = int(time.time()) + self.seconds
        return str(stamp) if self.as_text else stamp


HAND_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("not-yet-valid", {"nbf": FromNow(3600)}, {}, "not valid yet"),
    ("nbf-within-leeway", {"nbf": FromNow(10)}, {}, ""),
    ("exp-within-leeway", {"exp": FromNow(-10)}, {}, ""),
    ("wrong-typ-JWT", {}, {"typ": "JWT"}, "typ must be at+jwt"),
    ("missing-typ", {}, {"typ": None}, "typ must be at+jwt"),
    ("typ-application-form", {}, {"typ": "application/AT+JWT"}, ""),
    ("missing-jti", {"jti": None}, {}, "lacks required claims: jti"),
    ("missing-client_id", {"client_id": None}, {}, "client_id"),
    ("missing-sub", {"sub": None}, {}, "sub"),
    ("missing-exp", {"exp": None}, {}, "exp"),
    ("missing-aud", {"aud": None}, {}, "aud"),
    ("aud-list-with-ours", {"aud": ["https://x.example", AUDIENCE]}, {}, ""),
    ("aud-empty-list", {"aud": []}, {}, "aud claim is malformed"),
    ("exp-as-string", {"exp": FromNow(300, as_text=True)}, {}, "NumericDate"),
    ("exp-as-bool", {"exp": True}, {}, "NumericDate"),
    ("scope-as-list", {"scope": ["properties:read"]}, {}, "scope claim must be a string"),
    ("iss-prefix-only", {"iss": "http://127.0.0.1"}, {}, "another issuer"),
    ("crit-unknown", {}, {"crit": ["exp"], "exp": 1}, "critical"),
    ("b64-false-rfc7797", {}, {"b64": False, "crit": ["b64"]}, "critical"),
    ("b64-false-without-crit", {}, {"b64": False}, "RFC 7797"),
    ("b64-true", {}, {"b64": True}, ""),
    ("jku-ignored", {}, {"jku": "https://evil.example/jwks.json"}, ""),
]


@pytest.mark.parametrize(("claims", "header", "why"), [c[1:] for c in HAND_CASES], ids=[c[0] for c in HAND_CASES])
async def test_hand_made_tokens(
    tiny: TinyIssuer, http: httpx.AsyncClient, claims: dict[str, Any], header: dict[str, Any], why: str
) -> None:
    """Validly signed tokens that break (or, with an empty reason, just meet) one rule of RFC 9068 §4."""
    tiny.add_key("k1")
    claims = {name: value.value() if isinstance(value, FromNow) else value for name, value in claims.items()}
    token = _b64_false(tiny) if header.get("crit") == ["b64"] else tiny.sign(tiny.claims(**claims), "k1", **header)
    verifier = tiny_verifier(tiny, http)
    if why:
        assert why in await rejected(verifier, token)
    else:
        assert (await verifier.verify(token)).client_id == "spa"


def _b64_false(tiny: TinyIssuer) -> str:
    """RFC 7797 unencoded payload, correctly signed: refused (the payload would be read differently)."""
    from joserfc import jws

    header = {"alg": "ES256", "typ": "at+jwt", "kid": "k1", "b64": False, "crit": ["b64"]}
    return jws.serialize_compact(header, json.dumps(tiny.claims()), tiny.keys["k1"], algorithms=["ES256"])


async def test_unknown_kid_then_rotated_jwks(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """RFC 7515 §4.1.4, RFC 7517 §5: a token under a new ``kid`` is accepted once the issuer publishes it; before
    that it is an unknown key."""
    tiny.add_key("old")
    verifier = tiny_verifier(tiny, http, min_refresh_interval=0)
    assert (await verifier.verify(tiny.sign(tiny.claims(), "old"))).subject == "user-1"
    from joserfc.jwk import ECKey

    unpublished = ECKey.generate_key("P-256")
    assert "unknown key" in await rejected(verifier, tiny.sign(tiny.claims(), "new", key=unpublished))
    tiny.keys["new"] = unpublished  # the issuer rotates: the new key is published
    del tiny.keys["old"]
    assert (await verifier.verify(tiny.sign(tiny.claims(sub="user-2"), "new"))).subject == "user-2"
    assert "unknown key" in await rejected(verifier, tiny.sign(tiny.claims(), "old", key=ECKey.generate_key("P-256")))
