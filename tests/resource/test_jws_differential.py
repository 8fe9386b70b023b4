"""Differential test: Pixie's lean compact-JWS path (:mod:`pixie.resource.jws`) against joserfc.

joserfc is configured with the header policy :mod:`pixie.resource.jws` documents (the parameters it understands,
no RFC 7797, unknown parameters ignored, the same size limits); then, on valid tokens and on hostile ones, both
must return the same header and claims or both must refuse. A lenient corner in the lean path (or a strict one
that would refuse good tokens) shows up as a disagreement, with hypothesis' smallest example.

Spec: RFC 7515 §5.2, RFC 7518 §3, RFC 8037 §3.1, RFC 8725 §3.1–3.2.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import warnings
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.registry import JWS_HEADER_REGISTRY
from resource_support import b64

from pixie.resource import jws

ALLOWED = jws.allowed_algorithms(["ES256", "ES384", "RS256", "PS256", "EdDSA"])


class PolicyRegistry(JWSRegistry):
    default_header_registry: ClassVar[dict[str, Any]] = {
        name: JWS_HEADER_REGISTRY[name] for name in sorted(jws.UNDERSTOOD_HEADER)
    }
    max_header_length = jws.MAX_HEADER_LENGTH
    max_payload_length = jws.MAX_PAYLOAD_LENGTH
    max_signature_length = jws.MAX_SIGNATURE_LENGTH


ORACLE = PolicyRegistry(algorithms=sorted(ALLOWED), strict_check_header=False)

PRIVATE = {
    "ES256": ECKey.generate_key("P-256"),
    "ES384": ECKey.generate_key("P-384"),
    "RS256": RSAKey.generate_key(2048),
    "PS256": RSAKey.generate_key(2048),
    "Ed25519": OKPKey.generate_key("Ed25519"),
}
EXTRAS: list[dict[str, Any]] = [{}, {"use": "sig"}, {"use": "enc"}, {"key_ops": ["verify"]}, {"key_ops": ["sign"]}]


def public_pair(name: str, extra: dict[str, Any]) -> tuple[Any, jws.VerificationKey]:
    """The same public JWK as a joserfc key (for the oracle) and as Pixie's verification key."""
    data = {**PRIVATE[name].as_dict(private=False), **extra}
    return JWKRegistry.import_key(data), jws.import_jwk(data)


def raw_sign(alg: str, key_name: str, signing_input: bytes) -> bytes:
    private: Any = PRIVATE[key_name].private_key
    if alg in ("ES256", "ES384"):
        size = 32 if key_name == "ES256" else 48
        r, s = decode_dss_signature(
            private.sign(signing_input, ec.ECDSA(hashes.SHA256() if size == 32 else hashes.SHA384()))
        )
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "RS256":
        signature: bytes = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signature
    if alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = private.sign(signing_input, pss, hashes.SHA256())
        return signature
    signature = private.sign(signing_input)
    return signature


def oracle(token: str, key: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc warns that "EdDSA" is deprecated (RFC 9864)
            decoded = jwt.decode(token, key, registry=ORACLE)
    except Exception:
        return None
    return dict(decoded.header), dict(decoded.claims)


def lean(token: str, key: jws.VerificationKey) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        compact = jws.parse_compact(token, ALLOWED)
        return dict(compact.header), jws.verify_compact(compact, key)
    except jws.JWSError:  # anything else escaping is a bug, and fails the test
        return None


def agree(token: str, key_name: str, extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    theirs, ours = public_pair(key_name, extra)
    expected, got = oracle(token, theirs), lean(token, ours)
    assert got == expected, (token[:200], expected, got)
    return got


KEY_FOR_ALG = {
    "ES256": "ES256",
    "ES384": "ES384",
    "RS256": "RS256",
    "PS256": "PS256",
    "EdDSA": "Ed25519",
    "Ed25519": "Ed25519",
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
claims_strategy = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
header_extras = st.fixed_dictionaries(
    {},
    optional={
        "kid": st.text(max_size=10) | st.integers(),
        "typ": st.sampled_from(["at+jwt", "JWT"]) | st.integers(),
        "cty": st.just("JWT"),
        "crit": st.sampled_from([[], ["kid"], ["exp"], ["b64"], "kid", ["crit"], [1]]),
        "b64": st.sampled_from([True, False, 1]),
        "jku": st.just("https://evil.example/jwks"),
        "x-custom": json_values,
    },
)


def build(header: dict[str, Any], claims: dict[str, Any] | bytes, key_name: str) -> str:
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    alg = str(header.get("alg"))
    sig_alg = alg if alg in ("ES256", "ES384", "RS256", "PS256") else "Ed25519"
    return f"{signing_input}.{b64(raw_sign(sig_alg, key_name, signing_input.encode()))}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alg=st.sampled_from(sorted(KEY_FOR_ALG)), extras=header_extras, claims=claims_strategy)
def test_signed_tokens_with_varied_headers(alg: str, extras: dict[str, Any], claims: dict[str, Any]) -> None:
    """Correctly signed tokens whose headers vary over what the policy accepts and refuses."""
    key_name = KEY_FOR_ALG[alg]
    token = build({"alg": alg, **extras}, claims, key_name)
    result = agree(token, key_name, {})
    if not extras:
        assert result is not None and result[1] == claims  # a plain valid token is accepted by both


MUTATIONS = [
    "flip",
    "insert",
    "delete",
    "pad",
    "truncate",
    "noncanonical",
    "swap-alg",
    "none",
    "hmac",
    "bigsig",
    "dot",
    "oversize-payload",
    "payload-not-object",
    "wrong-key-alg",
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alg=st.sampled_from(["ES256", "RS256", "EdDSA", "PS256"]),
    mutation=st.sampled_from(MUTATIONS),
    extra=st.sampled_from([*EXTRAS, {"alg": "ES256"}, {"alg": "RS256"}]),
    position=st.integers(0, 10_000),
    char=st.sampled_from([*"A_-+/=.éQw0", "%", " "]),
    size=st.integers(0, 40),
)
def test_hostile_tokens(alg: str, mutation: str, extra: dict[str, Any], position: int, char: str, size: int) -> None:
    """Tampered, truncated, re-padded, alg-swapped, none, HMAC-with-the-public-key, oversized and wrong-length
    tokens: both implementations agree (and almost all are refused)."""
    key_name = KEY_FOR_ALG[alg]
    claims = {"iss": "https://as.example", "sub": "u", "scope": "a b"}
    token = build({"alg": alg, "kid": "k1", "typ": "at+jwt"}, claims, key_name)
    head, payload, signature = token.split(".")
    index = position % len(token)
    if mutation == "flip":
        token = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
    elif mutation == "insert":
        token = token[:index] + char * (1 + size % 3) + token[index:]
    elif mutation == "delete":
        token = token[:index] + token[index + 1 + size % 3 :]
    elif mutation == "pad":
        token = token + "=" * (1 + size % 2)
    elif mutation == "truncate":
        token = token[: max(0, len(token) - 1 - size)]
    elif mutation == "noncanonical":  # same bytes, stray bits set in the last character of a segment
        segments = [head, payload, signature]
        which = size % 3
        last = segments[which][-1]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        segments[which] = segments[which][:-1] + alphabet[(alphabet.index(last) + 1) % 64]
        token = ".".join(segments)
    elif mutation == "swap-alg":
        other = ["ES256", "ES384", "RS256", "PS256", "EdDSA", "Ed25519", "RS512", "ES512"][size % 8]
        token = f"{b64(json.dumps({'alg': other, 'kid': 'k1'}).encode())}.{payload}.{signature}"
    elif mutation == "none":
        variants = ["none", "None", "NONE", "nOnE"]
        token = f"{b64(json.dumps({'alg': variants[size % 4]}).encode())}.{payload}." + ("" if size % 2 else signature)
    elif mutation == "hmac":
        secret = json.dumps(PRIVATE[key_name].as_dict(private=False)).encode() if size % 2 else b""
        h = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{payload}"
        token = f"{h}.{b64(hmac.new(secret, h.encode(), hashlib.sha256).digest())}"
    elif mutation == "bigsig":
        token = f"{head}.{payload}.{b64(b'x' * (size * 40))}"
    elif mutation == "dot":
        token = token + "." + char
    elif mutation == "oversize-payload":
        filler = {"pad": "x" * (6100 + size)}  # encodes to around the 8,192-character limit
        token = build({"alg": alg, "kid": "k1"}, filler, key_name)
    elif mutation == "payload-not-object":
        token = build({"alg": alg}, [b"[1]", b'"s"', b"1", b"null", b"{", b"\xff"][size % 6], key_name)
    elif mutation == "wrong-key-alg":
        key_name = ["ES256", "ES384", "RS256", "Ed25519"][size % 4]
    agree(token, key_name, extra)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_\-]{0,60}\.[A-Za-z0-9_\-]{0,60}\.[A-Za-z0-9_\-=]{0,90}"))
def test_arbitrary_strings(token: str) -> None:
    agree(token, "ES256", {})


def test_boundaries_are_the_same() -> None:
    """Exactly at and one past each size limit, on correctly signed tokens."""
    for pad in range(6130, 6150):
        agree(build({"alg": "ES256"}, {"p": "x" * pad}, "ES256"), "ES256", {})
    for pad in range(300, 400, 3):
        agree(build({"alg": "ES256", "x": "y" * pad}, {"a": 1}, "ES256"), "ES256", {})
