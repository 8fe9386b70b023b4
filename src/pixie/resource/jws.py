"""A lean compact-JWS verifier for access tokens, on :mod:`cryptography` directly.

Why not joserfc's ``jwt.decode`` (which :mod:`pixie.tokens.signing` uses to check Pixie's own tokens)? It builds a
registry, key-set lookup and several objects per call and reaches about 8,000 ES256 verifications a second on one
core, while the ECDSA P-256 verify itself allows about 13,000; a resource server verifies a token on every request
(issue 10 asks for at least 10,000 a second). This module does the same checks with the header parsed once per
distinct header segment. ``tests/resource/test_jws_differential.py`` runs it against joserfc (configured with the
same header policy) on valid and hostile tokens: both must agree on every input. joserfc still imports the keys
(:func:`import_jwk`): JWK parsing and point validation are not worth rewriting.

Policy, in the order the checks run:

* the token is ASCII, at most :data:`MAX_TOKEN_LENGTH` characters, three ``.``-separated parts, each strict
  base64url (no padding, no ``+``/``/``, canonical trailing bits); header segment ≤ 512, payload ≤ 8,192,
  signature ≤ 1,024 characters;
* the header is a JSON object with a string ``alg`` in the allow-list; ``kid``, ``typ``, ``cty`` are strings when
  present; ``crit`` is a list of strings each naming a present parameter that this module understands (``alg``,
  ``kid``, ``typ``, ``cty``, ``crit``); ``b64`` (RFC 7797), unless ``true``, is refused. Other parameters are
  ignored (RFC 7515 §4) — in particular ``jku``, ``jwk``, ``x5u`` and ``x5c`` never select a key;
* the key's type and curve fit ``alg``; its ``use`` (if any) is ``sig``, its ``key_ops`` (if any) contain
  ``verify``, its ``alg`` (if any) equals the header's;
* the signature has the exact length ``alg`` prescribes (ECDSA: raw ``r || s``, RFC 7518 §3.4) and verifies;
* the payload is a JSON object.

``none`` and every HMAC algorithm are refused when configured (:func:`allowed_algorithms`): with asymmetric keys
published in a JWKS, HMAC would let anyone sign with the public key as the secret.

Spec: RFC 7515 §5.2 (validation), RFC 7518 §3, RFC 8037 §3.1, RFC 9864, RFC 8725 §3.1–3.2.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

__all__ = [
    "ALGORITHMS",
    "MAX_TOKEN_LENGTH",
    "Compact",
    "JWSError",
    "VerificationKey",
    "allowed_algorithms",
    "b64url_decode",
    "import_jwk",
    "parse_compact",
    "verify_compact",
]

MAX_HEADER_LENGTH = 512
MAX_PAYLOAD_LENGTH = 8192
MAX_SIGNATURE_LENGTH = 1024
MAX_TOKEN_LENGTH = MAX_HEADER_LENGTH + MAX_PAYLOAD_LENGTH + MAX_SIGNATURE_LENGTH  # as joserfc counts
MIN_RSA_BITS = 2048
UNDERSTOOD_HEADER = frozenset({"alg", "kid", "typ", "cty", "crit"})

Family = Literal["ecdsa", "pkcs1", "pss", "eddsa"]


@dataclass(frozen=True)
class _Alg:
    kty: str
    family: Family
    curve: str | None = None
    hash: hashes.HashAlgorithm | None = None
    signature_length: int | None = None


ALGORITHMS: Mapping[str, _Alg] = {
    "ES256": _Alg("EC", "ecdsa", "P-256", hashes.SHA256(), 64),
    "ES384": _Alg("EC", "ecdsa", "P-384", hashes.SHA384(), 96),
    "ES512": _Alg("EC", "ecdsa", "P-521", hashes.SHA512(), 132),
    "RS256": _Alg("RSA", "pkcs1", hash=hashes.SHA256()),
    "RS384": _Alg("RSA", "pkcs1", hash=hashes.SHA384()),
    "RS512": _Alg("RSA", "pkcs1", hash=hashes.SHA512()),
    "PS256": _Alg("RSA", "pss", hash=hashes.SHA256()),
    "PS384": _Alg("RSA", "pss", hash=hashes.SHA384()),
    "PS512": _Alg("RSA", "pss", hash=hashes.SHA512()),
    "Ed25519": _Alg("OKP", "eddsa", "Ed25519", signature_length=64),
    "EdDSA": _Alg("OKP", "eddsa", "Ed25519", signature_length=64),  # RFC 8037 name; RFC 9864 deprecates it
}
_SCHEMES: Mapping[str, ec.ECDSA | padding.AsymmetricPadding] = {
    name: ec.ECDSA(spec.hash)
    if spec.family == "ecdsa" and spec.hash
    else padding.PKCS1v15()
    if spec.family == "pkcs1"
    else padding.PSS(mgf=padding.MGF1(spec.hash), salt_length=spec.hash.digest_size)
    for name, spec in ALGORITHMS.items()
    if spec.hash is not None
}
"""Built once: these objects are immutable, and making them costs about 1 µs per token."""

"""Signature algorithms this verifier implements (``Ed25519`` is RFC 9864's fully-specified name that Pixie signs
with; ``EdDSA`` is the older polymorphic name, accepted for Ed25519 keys only)."""


class JWSError(ValueError):
    """A token or key that fails a check. The message names the check, never token content: safe to log."""


def allowed_algorithms(configured: Iterable[str]) -> frozenset[str]:
    """Validate a configured allow-list. ``none`` and HMAC are refused loudly rather than filtered, so a
    misconfiguration fails at start-up instead of silently changing what is accepted.

    Spec: RFC 8725 §3.1 (use an allow-list), §3.2 (``none`` and key confusion).
    """
    names = list(configured)
    if not names:
        raise ValueError("at least one signature algorithm must be allowed")
    for name in names:
        if name.lower() == "none" or name.upper().startswith("HS"):
            raise ValueError(f"algorithm {name!r} is never accepted for access tokens (RFC 8725 §3.1, §3.2)")
        if name not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    allowed = frozenset(names)
    if "EdDSA" in allowed:
        allowed |= {"Ed25519"}  # the same signature under its fully-specified name (RFC 9864 §2.2)
    return allowed


PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class VerificationKey:
    """One public key from a JWK set, with the JWK members that restrict its use (RFC 7517 §4.2–4.4)."""

    kid: str | None
    kty: str
    curve: str | None
    public_key: PublicKey
    alg: str | None = None
    use: str | None = None
    key_ops: tuple[str, ...] | None = None

    def usable_for(self, alg: str) -> bool:
        """Whether this key may check a signature made with ``alg`` (type, curve, ``use``, ``key_ops``,
        ``alg``)."""
        spec = ALGORITHMS.get(alg)
        if spec is None or spec.kty != self.kty or (spec.curve is not None and spec.curve != self.curve):
            return False
        if self.use is not None and self.use != "sig":
            return False
        if self.key_ops is not None and "verify" not in self.key_ops:
            return False
        return self.alg is None or self.alg == alg


def import_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """A public verification key from a JWK (joserfc parses and validates it). Symmetric keys, unknown curves and
    RSA keys under 2048 bits are refused.

    Spec: RFC 7517 §4, RFC 7518 §6, RFC 8037 §2.
    """
    if jwk.get("kty") not in ("EC", "RSA", "OKP"):
        raise JWSError("unsupported key type")
    kid, alg, use, key_ops = jwk.get("kid"), jwk.get("alg"), jwk.get("use"), jwk.get("key_ops")
    if not all(v is None or isinstance(v, str) for v in (kid, alg, use)):
        raise JWSError("kid, alg and use must be strings")
    if key_ops is not None and not (isinstance(key_ops, list) and all(isinstance(op, str) for op in key_ops)):
        raise JWSError("key_ops must be a list of strings")
    public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
    try:
        key = JWKRegistry.import_key(public)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise JWSError(f"unusable JWK: {type(exc).__name__}") from None
    curve: str | None = None
    native: PublicKey
    if isinstance(key, ECKey):
        curve = key.curve_name
        if curve not in ("P-256", "P-384", "P-521"):
            raise JWSError("unsupported EC curve")
        native = key.public_key
    elif isinstance(key, RSAKey):
        native = key.public_key
        if native.key_size < MIN_RSA_BITS:
            raise JWSError("RSA key shorter than 2048 bits")
    elif isinstance(key, OKPKey) and key.curve_name == "Ed25519":
        curve = "Ed25519"
        native = key.public_key  # type: ignore[assignment]
    else:
        raise JWSError("unsupported key")
    return VerificationKey(
        kid=kid,
        kty=str(jwk["kty"]),
        curve=curve,
        public_key=native,
        alg=alg,
        use=use,
        key_ops=tuple(key_ops) if key_ops is not None else None,
    )


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"=", b"==")
_SAFE_ENDINGS = (b"AEIMQUYcgkosw048", b"AQgw")  # last character when 2 or 1 '=' would follow: no stray bits


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding: only ``A-Z a-z 0-9 - _``, no length ≡ 1 (mod 4), canonical last
    character.

    Spec: RFC 7515 §2 (Base64url Encoding), RFC 4648 §5, §3.5 (canonical encoding).
    """
    try:
        raw = segment.encode("ascii")
    except UnicodeEncodeError:
        raise JWSError("not base64url") from None
    if b"+" in raw or b"/" in raw or b"=" in raw:
        raise JWSError("not base64url")
    pad = -len(raw) % 4
    if pad == 3 or (pad and raw[-1] not in _SAFE_ENDINGS[pad - 1]):
        raise JWSError("not canonical base64url")
    try:
        # bytes.translate: several times faster than str.translate on this path (every token, three times).
        return binascii.a2b_base64(raw.translate(_TO_STANDARD) + _PADDING[pad], strict_mode=True)
    except binascii.Error:
        raise JWSError("not base64url") from None


@dataclass(frozen=True)
class Compact:
    """A compact JWS split and with its header checked, before its signature is."""

    header: Mapping[str, Any]
    alg: str
    kid: str | None
    signing_input: bytes
    payload_segment: str
    signature_segment: str


def _checked_header(segment: str, allowed: frozenset[str]) -> tuple[Mapping[str, Any], str, str | None]:
    try:
        header = json.loads(b64url_decode(segment))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors, and so is JWSError
        raise JWSError("malformed header") from None
    if not isinstance(header, dict):
        raise JWSError("malformed header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JWSError("missing alg")
    for name in ("kid", "typ", "cty"):
        if name in header and not isinstance(header[name], str):
            raise JWSError(f"{name} must be a string")
    crit = header.get("crit")
    if "crit" in header and not (isinstance(crit, list) and all(isinstance(c, str) for c in crit)):
        raise JWSError("crit must be a list of strings")
    for name in crit or ():
        if name not in header or name not in UNDERSTOOD_HEADER:
            raise JWSError("unsupported critical header parameter")
    if "b64" in header and header["b64"] is not True:
        raise JWSError("unencoded payloads (RFC 7797) are not accepted")
    if alg not in allowed:
        raise JWSError("algorithm not allowed")
    return header, alg, header.get("kid")


class _HeaderCache:
    """Parsed headers by their segment: an issuer's tokens share one header per key, so this is the "parse once".
    Bounded, and emptied when full, so a flood of distinct (unauthenticated) headers cannot grow it."""

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._entries: dict[tuple[str, frozenset[str]], tuple[Mapping[str, Any], str, str | None]] = {}

    def get(self, segment: str, allowed: frozenset[str]) -> tuple[Mapping[str, Any], str, str | None]:
        key = (segment, allowed)
        found = self._entries.get(key)
        if found is None:
            found = _checked_header(segment, allowed)
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[key] = found
        return found


_headers = _HeaderCache()


def parse_compact(token: str, allowed: frozenset[str]) -> Compact:
    """Split a compact JWS and check its header (sizes, encoding, ``alg`` allow-list, ``crit``).

    Spec: RFC 7515 §5.2 steps 1–5, §4.1.11 (``crit``); RFC 8725 §3.1.
    """
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise JWSError("token too long or not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWSError("not a compact JWS")
    header_segment, payload_segment, signature_segment = parts
    if (
        len(header_segment) > MAX_HEADER_LENGTH
        or len(payload_segment) > MAX_PAYLOAD_LENGTH
        or len(signature_segment) > MAX_SIGNATURE_LENGTH
    ):
        raise JWSError("token part too long")
    header, alg, kid = _headers.get(header_segment, allowed)
    signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    return Compact(header, alg, kid, signing_input, payload_segment, signature_segment)


def _signature_ok(compact: Compact, key: VerificationKey, signature: bytes) -> bool:
    spec = ALGORITHMS[compact.alg]
    public = key.public_key
    scheme = _SCHEMES.get(compact.alg)
    try:
        if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(scheme, ec.ECDSA):
            half = len(signature) // 2
            der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
            public.verify(der, compact.signing_input, scheme)
        elif isinstance(public, ed25519.Ed25519PublicKey) and spec.family == "eddsa":
            public.verify(signature, compact.signing_input)
        elif isinstance(public, rsa.RSAPublicKey) and isinstance(scheme, padding.AsymmetricPadding) and spec.hash:
            if len(signature) != (public.key_size + 7) // 8:
                return False
            public.verify(signature, compact.signing_input, scheme, spec.hash)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_compact(compact: Compact, key: VerificationKey) -> dict[str, Any]:
    """Check the signature of a parsed token with ``key`` and return its claims (a JSON object).

    Spec: RFC 7515 §5.2 steps 6–8, RFC 7518 §3.3–3.5, RFC 8037 §3.1, RFC 7519 §7.2 step 10.
    """
    if not key.usable_for(compact.alg):
        raise JWSError("key does not fit the algorithm")
    signature = b64url_decode(compact.signature_segment)
    expected = ALGORITHMS[compact.alg].signature_length
    if expected is not None and len(signature) != expected:
        raise JWSError("bad signature length")
    if not _signature_ok(compact, key, signature):
        raise JWSError("bad signature")
    try:
        claims = json.loads(b64url_decode(compact.payload_segment))
    except ValueError:
        raise JWSError("malformed payload") from None
    if not isinstance(claims, dict):
        raise JWSError("payload is not a JSON object")
    return claims
