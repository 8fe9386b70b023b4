"""The JWS policy of :mod:`pixie.resource.jws` (joserfc, configured and wrapped), attacked.

Hostile tokens and keys are refused — through :class:`JWTVerifier` as :class:`InvalidToken` naming the check, with
keys from a real JWK set on loopback — and valid ones are accepted. Hypothesis varies headers against the policy
written out here, claims, single-character edits of valid tokens, and arbitrary strings.

Spec: RFC 7515 §5.2, §4.1.11 (``crit``); RFC 7517 §4–5; RFC 7518 §3; RFC 7797 §6 (``b64``); RFC 8037 §3.1;
RFC 9864; RFC 8725 §3.1–3.2 (algorithms, key confusion), §3.10 (header key references).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OKPKey, RSAKey
from resource_support import AUDIENCE, TinyIssuer, b64, b64json, claims_for

from pixie.errors import InvalidToken
from pixie.resource import JWKSCache, JWTVerifier, jws

UNDERSTOOD = {"alg", "kid", "typ", "cty", "crit"}
"""The header parameters the policy understands (and so may be named in ``crit``), written out independently."""

ALLOWED = ("ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA")


def _weak_rsa() -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    """A 1024-bit RSA key and its JWK, made without joserfc (which warns about the size)."""
    private = rsa.generate_private_key(65537, 1024)  # noqa: S505  (the point: a key too short to be trusted)
    numbers = private.public_key().public_numbers()
    n, e = numbers.n.to_bytes(128, "big"), numbers.e.to_bytes(3, "big")
    return private, {"kty": "RSA", "n": b64(n), "e": b64(e)}


WEAK_RSA, WEAK_RSA_JWK = _weak_rsa()
KEYS: dict[str, ECKey | RSAKey | OKPKey] = {
    "es256": ECKey.generate_key("P-256"),
    "es384": ECKey.generate_key("P-384"),
    "es512": ECKey.generate_key("P-521"),
    "rsa": RSAKey.generate_key(2048),
    "ed25519": OKPKey.generate_key("Ed25519"),
    "shared-p384": ECKey.generate_key("P-384"),
    "shared-p256": ECKey.generate_key("P-256"),
    "enc": ECKey.generate_key("P-256"),
    "sign-only": ECKey.generate_key("P-256"),
    "rs-labelled": ECKey.generate_key("P-256"),
    "secp256k1": ECKey.generate_key("secp256k1"),
    "attacker": ECKey.generate_key("P-256"),
    "attacker-p521": ECKey.generate_key("P-521"),
}


def public(name: str, **members: Any) -> dict[str, Any]:
    return {**KEYS[name].as_dict(private=False), **members}


PUBLISHED: list[Any] = [
    public("es256", kid="k-es256", alg="ES256", use="sig"),
    public("es384", kid="k-es384"),
    public("es512", kid="k-es512"),
    public("rsa", kid="k-rsa"),
    public("ed25519", kid="k-ed"),
    public("shared-p384", kid="k-shared"),
    public("shared-p256", kid="k-shared"),
    public("enc", kid="k-enc", use="enc"),
    public("sign-only", kid="k-sign-only", key_ops=["sign"]),
    public("rs-labelled", kid="k-rs-labelled", alg="RS256"),
    public("secp256k1", kid="k-secp256k1"),
    {**WEAK_RSA_JWK, "kid": "k-weak"},
    {"kty": "oct", "k": b64(b"a shared secret, published by mistake"), "kid": "k-oct"},
    {**OKPKey.import_key(x25519.X25519PrivateKey.generate()).as_dict(private=False), "kid": "k-x25519"},
]
"""The JWK set the tiny issuer serves: usable keys, and traps (wrong ``use``, ``key_ops`` or ``alg``, a kid shared
by two curves, keys that must not be imported at all)."""

_HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def raw_signature(alg: str, key: str, signing_input: bytes) -> bytes:
    """What ``alg`` over ``signing_input`` with the named private key looks like, made with ``cryptography``
    directly: no library policy in the way of a hostile token."""
    private: Any = WEAK_RSA if key == "weak-rsa" else KEYS[key].private_key
    if alg.startswith("ES"):
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(_HASHES[alg[2:]])))
        size = (private.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg.startswith("RS"):
        signature: bytes = private.sign(signing_input, padding.PKCS1v15(), _HASHES[alg[2:]])
        return signature
    if alg.startswith("PS"):
        digest = _HASHES[alg[2:]]
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        signature = private.sign(signing_input, pss, digest)
        return signature
    signature = private.sign(signing_input)  # Ed25519 / EdDSA
    return signature


def token(header: dict[str, Any], payload: dict[str, Any] | bytes, key: str, *, sign_as: str | None = None) -> str:
    """A compact JWS: ``header`` as given, signed with ``key`` using ``sign_as`` (default: the header's ``alg``)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64json(header)}.{b64(body)}"
    signature = raw_signature(sign_as or str(header["alg"]), key, signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


def head(alg: str, kid: str | None, **extra: Any) -> dict[str, Any]:
    header = {"alg": alg, "typ": "at+jwt", **({"kid": kid} if kid else {}), **extra}
    return {name: value for name, value in header.items() if value is not None}


def hs(alg: str, secret: bytes) -> Callable[[dict[str, Any]], str]:
    def build(claims: dict[str, Any]) -> str:
        signing_input = f"{b64json(head(alg, 'k-es256'))}.{b64json(claims)}"
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"

    return build


def good(claims: dict[str, Any], **extra: Any) -> str:
    return token(head("ES256", "k-es256", **extra), claims, "es256")


def segments(claims: dict[str, Any]) -> list[str]:
    return good(claims).split(".")


def with_segment(index: int, change: Callable[[str], str]) -> Callable[[dict[str, Any]], str]:
    def build(claims: dict[str, Any]) -> str:
        parts = segments(claims)
        parts[index] = change(parts[index])
        return ".".join(parts)

    return build


def bump_last(segment: str) -> str:
    """The same bytes with stray bits set in the last character (non-canonical base64url, RFC 4648 §3.5)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) + 1]


def raw_header(
    header_bytes: bytes, key: str = "es256", payload: bytes | None = None
) -> Callable[[dict[str, Any]], str]:
    """A token whose header segment is exactly ``header_bytes`` (need not be JSON), correctly ES256-signed."""

    def build(claims: dict[str, Any]) -> str:
        body = payload if payload is not None else json.dumps(claims).encode()
        signing_input = f"{b64(header_bytes)}.{b64(body)}"
        return f"{signing_input}.{b64(raw_signature('ES256', key, signing_input.encode()))}"

    return build


def der_signature(claims: dict[str, Any]) -> str:
    """An ES256 signature in DER form instead of raw ``r || s`` (RFC 7518 §3.4)."""
    signing_input = f"{b64json(head('ES256', 'k-es256'))}.{b64json(claims)}"
    der = KEYS["es256"].private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr]
    return f"{signing_input}.{b64(der)}"


def rfc7797(claims: dict[str, Any]) -> str:
    """A correctly signed RFC 7797 token: unencoded payload in the signing input."""
    header = head("ES256", "k-es256", b64=False, crit=["b64"])
    body = json.dumps(claims, separators=(",", ":"))
    signing_input = f"{b64json(header)}.{body}".encode()
    return f"{b64json(header)}.{b64(body.encode())}.{b64(raw_signature('ES256', 'es256', signing_input))}"


def pem_of_es256() -> bytes:
    return KEYS["es256"].as_pem(private=False)


VALID: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("ES256", lambda c: token(head("ES256", "k-es256"), c, "es256")),
    ("ES384", lambda c: token(head("ES384", "k-es384"), c, "es384")),
    ("ES512", lambda c: token(head("ES512", "k-es512"), c, "es512")),
    ("RS256", lambda c: token(head("RS256", "k-rsa"), c, "rsa")),
    ("PS256", lambda c: token(head("PS256", "k-rsa"), c, "rsa")),
    ("Ed25519", lambda c: token(head("Ed25519", "k-ed"), c, "ed25519")),
    ("EdDSA-for-an-Ed25519-key", lambda c: token(head("EdDSA", "k-ed"), c, "ed25519")),
    ("shared-kid-ES256-skips-the-P-384-key", lambda c: token(head("ES256", "k-shared"), c, "shared-p256")),
    ("shared-kid-ES384", lambda c: token(head("ES384", "k-shared"), c, "shared-p384")),
    ("no-kid-one-key-fits", lambda c: token(head("ES512", None), c, "es512")),
    ("crit-names-an-understood-parameter", lambda c: good(c, crit=["kid"])),
    ("b64-true", lambda c: good(c, b64=True)),
    ("typ-application-form", lambda c: good(c, typ="application/AT+JWT")),
    ("cty", lambda c: good(c, cty="JWT")),
    ("unknown-parameters-ignored", lambda c: good(c, **{"x-custom": {"a": [1, None]}, "zip": "DEF", "x5t": "abc"})),
    ("jku-ignored", lambda c: good(c, jku="https://evil.example/jwks.json")),
    ("jwk-ignored", lambda c: good(c, jwk=public("attacker"))),
    ("x5u-x5c-ignored", lambda c: good(c, x5u="https://evil.example/cert.pem", x5c=["MIIB"])),
]


@pytest.fixture
def verifier(tiny: TinyIssuer, http: httpx.AsyncClient) -> JWTVerifier:
    tiny.published = PUBLISHED
    return JWTVerifier(tiny.base, AUDIENCE, jwks=JWKSCache(f"{tiny.base}/jwks.json", http=http), algorithms=ALLOWED)


@pytest.mark.parametrize("build", [case[1] for case in VALID], ids=[case[0] for case in VALID])
async def test_valid_tokens_are_accepted(tiny: TinyIssuer, verifier: JWTVerifier, build: Callable[..., str]) -> None:
    """RFC 7515 §5.2: each allowed algorithm with a key that fits it; parameters the policy ignores stay ignored
    (RFC 7515 §4) and never select a key (RFC 8725 §3.10)."""
    claims = claims_for(tiny.base, sub="alice")
    verified = await verifier.verify(build(claims))
    assert verified.subject == "alice" and dict(verified.claims) == claims


NONE = [("none", ""), ("None", ""), ("NONE", "sig"), ("nOnE", "sig")]
HOSTILE: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
    # RFC 8725 §3.1-3.2: no "none", no HMAC (the public key as the secret), nothing outside the allow-list.
    *[
        (
            f"alg-{alg}-{sig or 'unsigned'}",
            lambda c, a=alg, s=sig: f"{b64json(head(a, 'k-es256'))}.{b64json(c)}.{s}",
            "not allowed",
        )
        for alg, sig in NONE
    ],
    ("HS256-public-jwk-as-secret", hs("HS256", json.dumps(public("es256")).encode()), "not allowed"),
    ("HS384-x-coordinate-as-secret", hs("HS384", str(public("es256")["x"]).encode()), "not allowed"),
    ("HS512-pem-as-secret", hs("HS512", pem_of_es256()), "not allowed"),
    ("HS256-empty-secret", hs("HS256", b""), "not allowed"),
    ("HS256-published-oct-key", lambda c: hs("HS256", b"a shared secret, published by mistake")(c), "not allowed"),
    (
        "ES256K-not-supported",
        lambda c: token(head("ES256K", "k-secp256k1"), c, "secp256k1", sign_as="ES256"),
        "not allowed",
    ),
    ("RS512-not-in-the-allow-list", lambda c: token(head("RS512", "k-rsa"), c, "rsa"), "not allowed"),
    ("alg-missing", raw_header(b'{"typ":"at+jwt","kid":"k-es256"}'), "no alg"),
    ("alg-not-a-string", raw_header(b'{"alg":["ES256"],"kid":"k-es256","typ":"at+jwt"}'), "not allowed"),
    # RFC 7518 §3.1, RFC 8725 §3.1: the key's type and curve must fit alg.
    ("ES256-header-P-384-key", lambda c: token(head("ES256", "k-es384"), c, "es384", sign_as="ES384"), "unknown key"),
    ("ES384-header-P-256-key", lambda c: token(head("ES384", "k-es256"), c, "es256", sign_as="ES256"), "unknown key"),
    ("ES256-on-secp256k1", lambda c: token(head("ES256", "k-secp256k1"), c, "secp256k1"), "unknown key"),
    (
        "RS256-header-EC-key",
        lambda c: f"{b64json(head('RS256', 'k-es256'))}.{b64json(c)}.{b64(b'x' * 256)}",
        "unknown key",
    ),
    ("ES256-header-RSA-key", lambda c: token(head("ES256", "k-rsa"), c, "es256"), "unknown key"),
    ("EdDSA-header-EC-key", lambda c: token(head("EdDSA", "k-es256"), c, "ed25519"), "unknown key"),
    ("ES256-on-the-oct-key", lambda c: token(head("ES256", "k-oct"), c, "es256"), "unknown key"),
    # RFC 7517 §4.2-4.4: use, key_ops and alg of the JWK.
    ("key-for-encryption", lambda c: token(head("ES256", "k-enc"), c, "enc"), "unknown key"),
    ("key-ops-sign-only", lambda c: token(head("ES256", "k-sign-only"), c, "sign-only"), "unknown key"),
    ("key-labelled-RS256", lambda c: token(head("ES256", "k-rs-labelled"), c, "rs-labelled"), "unknown key"),
    ("weak-RSA-key-not-imported", lambda c: token(head("RS256", "k-weak"), c, "weak-rsa"), "unknown key"),
    # kid confusion and header key references (RFC 8725 §3.10).
    ("kid-of-one-key-signed-by-another", lambda c: token(head("ES256", "k-es256"), c, "attacker"), "bad signature"),
    ("kid-unknown", lambda c: token(head("ES256", "k-nobody"), c, "attacker"), "unknown key"),
    ("no-kid-several-keys-fit", lambda c: token(head("ES256", None), c, "es256"), "unknown key"),
    ("kid-not-a-string", raw_header(b'{"alg":"ES256","typ":"at+jwt","kid":7}'), "must be strings"),
    ("kid-null", raw_header(b'{"alg":"ES256","typ":"at+jwt","kid":null}'), "must be strings"),
    (
        "embedded-jwk-of-the-signer",
        lambda c: token(head("ES512", None, jwk=public("attacker-p521")), c, "attacker-p521"),
        "bad signature",
    ),
    (
        "jku-to-the-attackers-set",
        lambda c: token(head("ES256", "k-attacker", jku="https://evil.example/jwks.json"), c, "attacker"),
        "unknown key",
    ),
    (
        "x5c-of-the-signer",
        lambda c: token(head("ES256", "k-es256", x5c=["MIIBattacker"], x5u="https://evil.example/c"), c, "attacker"),
        "bad signature",
    ),
    # RFC 7515 §4.1.11: crit names only present parameters that are understood.
    ("crit-unknown-but-present", lambda c: good(c, crit=["exp"], exp=1), "critical"),
    ("crit-absent-parameter", lambda c: good(c, crit=["x-missing"]), "critical"),
    ("crit-ignored-parameter", lambda c: good(c, crit=["jku"], jku="https://as.example/jwks"), "critical"),
    ("crit-a-string", lambda c: good(c, crit="kid"), "critical"),
    ("crit-numbers", lambda c: good(c, crit=[1]), "malformed header"),
    ("crit-nested-list", lambda c: good(c, crit=[["kid"]]), "malformed header"),
    ("crit-an-object", lambda c: good(c, crit={}), "must be strings"),
    # RFC 7797: the payload is always base64url.
    ("b64-false-without-crit", lambda c: good(c, b64=False), "RFC 7797"),
    ("b64-false-signed-as-rfc7797", rfc7797, "critical"),
    ("b64-one", lambda c: good(c, b64=1), "RFC 7797"),
    ("b64-string", lambda c: good(c, b64="false"), "RFC 7797"),
    # RFC 9068 §2.1 (checked by the verifier, before any key look-up).
    ("typ-JWT", lambda c: good(c, typ="JWT"), "typ must be at+jwt"),
    ("typ-missing", lambda c: token(head("ES256", "k-es256", typ=None), c, "es256"), "typ must be at+jwt"),
    ("typ-padded", lambda c: good(c, typ="at+jwt "), "typ must be at+jwt"),
    ("typ-a-number", lambda c: good(c, typ=1), "must be strings"),
    # RFC 7515 §5.2 steps 1-3, 8: shape, sizes, strict base64url, JSON objects.
    ("empty", lambda c: "", "three base64url parts"),
    ("two-parts", lambda c: good(c).rsplit(".", 1)[0], "three base64url parts"),
    ("four-parts", lambda c: good(c) + ".", "three base64url parts"),
    ("non-ascii", lambda c: good(c)[:-1] + "é", "not ASCII"),
    ("token-too-long", lambda c: good(c, pad="x" * 9000), "too long"),
    ("header-too-long", lambda c: good(c, pad="x" * 400), "too long"),
    ("payload-too-long", lambda c: good({**c, "pad": "x" * 6200}), "too long"),
    ("signature-too-long", with_segment(2, lambda s: s + "A" * 1000), "too long"),
    ("header-padded", with_segment(0, lambda s: s + "="), "base64url parts with a JSON header"),
    ("payload-padded", with_segment(1, lambda s: s + "=="), "base64url parts"),
    ("signature-padded", with_segment(2, lambda s: s + "=="), "bad signature"),
    ("header-non-canonical", with_segment(0, bump_last), "base64url parts"),
    ("payload-non-canonical", with_segment(1, bump_last), "base64url parts"),
    ("signature-non-canonical", with_segment(2, bump_last), "bad signature"),
    ("header-standard-alphabet", with_segment(0, lambda s: s.replace("-", "+").replace("_", "/") + "+"), "base64url"),
    ("payload-with-a-space", with_segment(1, lambda s: s[:8] + " " + s[8:]), "base64url parts"),
    ("header-not-json", raw_header(b"{alg: ES256}"), "JSON header"),
    ("header-json-array", raw_header(b'["alg"]'), "malformed header"),
    ("header-json-string", raw_header(b'"alg"'), "malformed header"),
    ("header-invalid-utf8", raw_header(b'{"alg":"ES256","kid":"\xff"}'), "JSON header"),
    (
        "payload-not-json",
        raw_header(b'{"alg":"ES256","typ":"at+jwt","kid":"k-es256"}', payload=b"{"),
        "malformed payload",
    ),
    (
        "payload-array",
        raw_header(b'{"alg":"ES256","typ":"at+jwt","kid":"k-es256"}', payload=b"[1]"),
        "not a JSON object",
    ),
    (
        "payload-null",
        raw_header(b'{"alg":"ES256","typ":"at+jwt","kid":"k-es256"}', payload=b"null"),
        "not a JSON object",
    ),
    (
        "payload-bad-utf8",
        raw_header(b'{"alg":"ES256","typ":"at+jwt","kid":"k-es256"}', payload=b'{"a":"\xff"}'),
        "malformed payload",
    ),
    # RFC 7518 §3.4, §3.3, RFC 8037 §3.1: the signature's encoding and length.
    ("ES256-DER-signature", der_signature, "bad signature"),
    ("ES256-signature-one-byte-short", with_segment(2, lambda s: b64(b"\x01" * 63)), "bad signature"),
    ("ES256-signature-empty", with_segment(2, lambda s: ""), "bad signature"),
    ("RS256-signature-truncated", lambda c: token(head("RS256", "k-rsa"), c, "rsa")[:-8], "bad signature"),
    ("Ed25519-signature-truncated", lambda c: token(head("Ed25519", "k-ed"), c, "ed25519")[:-4], "bad signature"),
    (
        "tampered-claims",
        lambda c: f"{segments(c)[0]}.{b64json({**c, 'sub': 'admin'})}.{segments(c)[2]}",
        "bad signature",
    ),
]


@pytest.mark.parametrize(("build", "why"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
async def test_hostile_tokens_are_refused(
    tiny: TinyIssuer, verifier: JWTVerifier, build: Callable[..., str], why: str
) -> None:
    """Each row breaks one rule of the policy (the comments above name the clause) and must be an
    :class:`InvalidToken` that says which — never another exception, never the token echoed."""
    hostile = build(claims_for(tiny.base))
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(hostile)
    description = caught.value.description
    assert why in description
    assert not hostile or hostile not in description


@pytest.mark.parametrize(
    ("configured", "alg", "key", "accepted"),
    [
        (["Ed25519"], "EdDSA", "ed25519", False),
        (["Ed25519"], "Ed25519", "ed25519", True),
        (["EdDSA"], "Ed25519", "ed25519", True),
        (["RS256"], "PS256", "rsa", False),
        (["PS256"], "RS256", "rsa", False),
        (["ES384"], "ES256", "es256", False),
    ],
)
async def test_the_allow_list_is_exact(
    tiny: TinyIssuer, http: httpx.AsyncClient, configured: list[str], alg: str, key: str, accepted: bool
) -> None:
    """RFC 8725 §3.1: only configured algorithms verify; ``EdDSA`` implies its fully-specified name ``Ed25519``
    (RFC 9864 §2.2), not the reverse."""
    tiny.published = PUBLISHED
    cache = JWKSCache(f"{tiny.base}/jwks.json", http=http)
    verifier = JWTVerifier(tiny.base, AUDIENCE, jwks=cache, algorithms=configured)
    kid = {"ed25519": "k-ed", "rsa": "k-rsa", "es256": "k-es256"}[key]
    hostile = token(head(alg, kid), claims_for(tiny.base), key)
    if accepted:
        assert (await verifier.verify(hostile)).subject == "user-1"
    else:
        with pytest.raises(InvalidToken, match="not allowed"):
            await verifier.verify(hostile)
        assert cache.fetches == 0  # refused before any key look-up


@pytest.mark.parametrize(
    ("jwk", "why"),
    [
        ({"kty": "oct", "k": b64(b"secret")}, "unsupported key type"),
        ({"k": b64(b"secret")}, "unsupported key type"),
        ({"kty": "XYZ"}, "unsupported key type"),
        (public("secp256k1"), "unsupported EC curve"),
        ({**public("es256"), "x": public("es384")["x"]}, "unusable JWK"),  # not a point of P-256
        ({**public("es256"), "y": public("shared-p256")["y"]}, "unusable JWK"),  # x and y of two points
        (OKPKey.import_key(x25519.X25519PrivateKey.generate()).as_dict(private=False), "unsupported key"),
        (OKPKey.import_key(ed448.Ed448PrivateKey.generate()).as_dict(private=False), "unsupported key"),
        (WEAK_RSA_JWK, "shorter than 2048 bits"),
        ({**WEAK_RSA_JWK, "n": "AAAA" * 86 + WEAK_RSA_JWK["n"]}, "shorter than 2048 bits"),  # leading zeros
        (public("es256", key_ops="verify"), "key_ops must be a list"),
        (public("es256", key_ops=["verify", 1]), "unusable JWK"),
        (public("es256", kid=1), "unusable JWK"),
        (public("es256", use="signing"), "unusable JWK"),
        (public("es256", alg=256), "unusable JWK"),
        (public("es256", use="sig", key_ops=["encrypt"]), "unusable JWK"),
    ],
)
def test_hostile_keys_are_not_imported(jwk: dict[str, Any], why: str) -> None:
    """RFC 7517 §4, RFC 7518 §6, RFC 8037 §2, RFC 8725 §3.2: only asymmetric keys on supported curves and of sound
    size, with well-formed members, become verification keys."""
    with pytest.raises(jws.JWSError, match=why):
        jws.import_jwk(jwk)


@pytest.mark.parametrize("name", ["es256", "rsa", "ed25519"])
def test_private_members_are_dropped(name: str) -> None:
    """A JWK set that leaks a private key still yields only a public verification key."""
    imported = jws.import_jwk({**KEYS[name].as_dict(private=True), "kid": "leaked"})
    assert not imported.key.is_private and imported.kid == "leaked"
    assert imported.key.as_dict(private=False) == {**KEYS[name].as_dict(private=False), "kid": "leaked"}
    with pytest.raises(ValueError, match="not a private key"):
        imported.key.as_dict(private=True)


def test_a_jwk_set_without_a_usable_key_is_refused() -> None:
    """RFC 7517 §5: unusable keys are skipped; a set with none left is an error, and so is a document that is not
    a JWK set."""
    traps = [entry for entry in PUBLISHED if entry.get("kid") in ("k-weak", "k-oct", "k-x25519", "k-secp256k1")]
    for document in ({"keys": traps}, {"keys": []}, {"keys": "none"}, [], {"key": PUBLISHED}):
        with pytest.raises(jws.JWSError):
            jws.VerificationKeys.from_jwks(document)
    assert len(jws.VerificationKeys.from_jwks({"keys": PUBLISHED})) == 10


# ---- properties, on the JWS layer itself (every failure must be a JWSError, nothing else) ----

POLICY = jws.CompactVerifier(ALLOWED)
VERIFY_WITH = {
    alg: jws.import_jwk(public(name))
    for alg, name in {
        "ES256": "es256",
        "ES384": "es384",
        "ES512": "es512",
        "RS256": "rsa",
        "PS256": "rsa",
        "EdDSA": "ed25519",
        "Ed25519": "ed25519",
    }.items()
}
SIGN_WITH = {"ES256": "es256", "ES384": "es384", "ES512": "es512", "RS256": "rsa", "PS256": "rsa"}


def outcome(text: str, key: jws.VerificationKey) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims, or None when the policy refuses — any exception but JWSError fails the test."""
    try:
        parsed = POLICY.parse(text)
        return dict(parsed.header), POLICY.verify(parsed, key)
    except jws.JWSError:
        return None


def refused_by_policy(header: dict[str, Any]) -> bool:
    """The header rules, as the module docstring states them."""
    if len(b64json(header)) > 512:
        return True
    if any(name in header and not isinstance(header[name], str) for name in ("kid", "typ", "cty")):
        return True
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not all(isinstance(name, str) for name in crit):
            return True
        if any(name not in header or name not in UNDERSTOOD for name in crit):
            return True
    return "b64" in header and header["b64"] is not True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
claims_strategy = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
header_extras = st.fixed_dictionaries(
    {},
    optional={
        "kid": st.text(max_size=10) | st.integers() | st.none(),
        "typ": st.sampled_from(["at+jwt", "JWT"]) | st.integers(),
        "cty": st.just("JWT") | st.booleans(),
        "crit": st.sampled_from(
            [[], ["kid"], ["typ"], ["alg"], ["crit"], ["exp"], ["b64"], ["jku"], "kid", [1], {}, ["kid", "typ"]]
        ),
        "b64": st.sampled_from([True, False, 1, 0, "true", None]),
        "exp": st.integers(),
        "jku": st.just("https://evil.example/jwks"),
        "jwk": st.just(public("attacker")),
        "x5c": st.lists(st.text(max_size=5), max_size=2),
        "x-custom": json_values,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alg=st.sampled_from(sorted(SIGN_WITH)), extras=header_extras, claims=claims_strategy)
def test_headers_follow_the_policy(alg: str, extras: dict[str, Any], claims: dict[str, Any]) -> None:
    """Correctly signed tokens whose headers vary over what the policy accepts and refuses: accepted exactly when
    :func:`refused_by_policy` says so, and then with header and claims intact."""
    header = {"alg": alg, **extras}
    result = outcome(token(header, claims, SIGN_WITH[alg]), VERIFY_WITH[alg])
    if refused_by_policy(header):
        assert result is None
    else:
        assert result == (header, claims)


@settings(max_examples=100, deadline=None)
@given(
    alg=st.sampled_from(sorted(VERIFY_WITH)),
    payload=st.binary(max_size=40) | claims_strategy.map(lambda c: json.dumps(c).encode()),
)
def test_the_payload_must_be_a_json_object(alg: str, payload: bytes) -> None:
    """RFC 7519 §7.2 step 10: a correctly signed payload is accepted only when it is a JSON object."""
    try:
        expected = json.loads(payload)
    except ValueError:
        expected = None
    name = "ed25519" if alg in ("EdDSA", "Ed25519") else SIGN_WITH[alg]
    result = outcome(token({"alg": alg}, payload, name), VERIFY_WITH[alg])
    if isinstance(expected, dict):
        assert result is not None and result[1] == expected
    else:
        assert result is None


EDIT_CHARACTERS = st.sampled_from([*"A_-+/=.éQw0 ", "%", "\n"])


@settings(max_examples=300, deadline=None)
@given(
    alg=st.sampled_from(sorted(VERIFY_WITH)),
    edit=st.sampled_from(["replace", "insert", "delete", "truncate", "append"]),
    position=st.integers(0, 10_000),
    character=EDIT_CHARACTERS,
)
def test_any_single_edit_is_refused(alg: str, edit: str, position: int, character: str) -> None:
    """A validly signed token changed in one character — anywhere, including the dots, padding and the stray bits
    of a last character — is refused (it is either malformed, non-canonical, or signed over other bytes)."""
    name = "ed25519" if alg in ("EdDSA", "Ed25519") else SIGN_WITH[alg]
    original = token({"alg": alg, "kid": "k", "typ": "at+jwt"}, {"sub": "alice", "scope": "a b"}, name)
    assert outcome(original, VERIFY_WITH[alg]) is not None
    index = position % len(original)
    edited = {
        "replace": original[:index] + character + original[index + 1 :],
        "insert": original[:index] + character + original[index:],
        "delete": original[:index] + original[index + 1 :],
        "truncate": original[:index],
        "append": original + character,
    }[edit]
    assume(edited != original)
    assert outcome(edited, VERIFY_WITH[alg]) is None


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=300)
    | st.from_regex(r"[A-Za-z0-9_\-]{0,60}\.[A-Za-z0-9_\-]{0,60}\.[A-Za-z0-9_\-=]{0,90}", fullmatch=True)
    | st.builds(
        lambda h, p, s: f"{b64json(h)}.{p}.{s}",
        header_extras.map(lambda e: {"alg": "ES256", **e}),
        st.text(max_size=20),
        st.text(max_size=90),
    )
)
def test_arbitrary_strings_are_refused(text: str) -> None:
    """Nothing that was not signed by the key verifies, and nothing makes the parser raise anything but
    :class:`JWSError`."""
    assert outcome(text, VERIFY_WITH["ES256"]) is None


def test_size_limits_at_and_past_each_boundary() -> None:
    """Header segment at most 512 characters, payload segment at most 8,192, whole token at most 9,728 — exactly at
    the limit accepted, one encoding step past it refused, on correctly signed tokens."""
    seen: dict[str, set[bool]] = {"header": set(), "payload": set()}
    for pad in range(300, 420):
        signed = token({"alg": "ES256", "x": "y" * pad}, {"a": 1}, "es256")
        length = len(signed.split(".")[0])
        seen["header"].add(length <= 512)
        assert (outcome(signed, VERIFY_WITH["ES256"]) is not None) == (length <= 512), length
    for pad in range(6120, 6170):
        signed = token({"alg": "ES256"}, {"p": "x" * pad}, "es256")
        length = len(signed.split(".")[1])
        seen["payload"].add(length <= 8192)
        assert (outcome(signed, VERIFY_WITH["ES256"]) is not None) == (length <= 8192), length
    assert seen == {"header": {True, False}, "payload": {True, False}}  # both sides of each limit were tried
    head_segment, payload_segment, _ = token({"alg": "ES256"}, {"a": 1}, "es256").split(".")
    assert outcome(f"{head_segment}.{payload_segment}.{'A' * 1024}", VERIFY_WITH["ES256"]) is None
    with pytest.raises(jws.JWSError, match="too long"):
        POLICY.parse(f"{head_segment}.{payload_segment}.{'A' * 1026}")
    with pytest.raises(jws.JWSError, match="too long"):
        POLICY.parse("A" * (jws.MAX_TOKEN_LENGTH + 1))
