"""Signing Pixie's own tokens, and Pixie's own signing keys: the one module that signs.

Tokens are signed by :class:`CompactSigner` on :mod:`cryptography` directly: the header segment is encoded once per
key and ``typ``, and each token costs one JSON dump, one signature and base64 — less than a general-purpose JOSE
encoder, which builds its registry look-up, header object and key wrapper per call. joserfc is used here only for
key objects: generating keys, PEM import and export, the public JWK and its RFC 7638 thumbprint. Everything this
module handles is Pixie's own (keys from its key store, claims it composed); it parses nothing that comes from
outside. Checking any signature — Pixie's own tokens presented back to it included — is
:mod:`pixie.resource.jws`'s job, on joserfc.

Algorithms: ``ES256`` (default), ``RS256`` and ``Ed25519`` — the fully-specified name RFC 9864 gives EdDSA over
Ed25519 (``EdDSA`` is accepted as a configuration alias). ``none`` and HMAC algorithms are never produced.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

__all__ = [
    "ALGORITHMS",
    "CompactSigner",
    "JoseFailure",
    "PrivateKey",
    "canonical_alg",
    "generate_private_key",
    "load_private_key",
    "private_pem",
    "public_jwk",
    "thumbprint",
]

ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "Ed25519")
_ALIASES = {"EdDSA": "Ed25519"}

PrivateKey = ECKey | RSAKey | OKPKey


class JoseFailure(ValueError):
    """A signing key or algorithm that cannot be used. The message is safe to log."""


def canonical_alg(alg: str) -> str:
    """Map a configured algorithm name to the one Pixie uses; refuse anything not in :data:`ALGORITHMS`."""
    name = _ALIASES.get(alg, alg)
    if name not in ALGORITHMS:
        raise JoseFailure(f"unsupported signing algorithm {alg!r}; choose one of {', '.join(ALGORITHMS)}")
    return name


def generate_private_key(alg: str) -> PrivateKey:
    """A new private key for ``alg`` (P-256 for ES256, 3072-bit RSA for RS256, Ed25519)."""
    name = canonical_alg(alg)
    if name == "ES256":
        return ECKey.generate_key("P-256")
    if name == "RS256":
        return RSAKey.generate_key(3072)
    return OKPKey.generate_key("Ed25519")


def load_private_key(alg: str, pem: bytes) -> PrivateKey:
    """Import a PEM private key of the family ``alg`` uses."""
    name = canonical_alg(alg)
    try:
        if name == "ES256":
            return ECKey.import_key(pem)
        if name == "RS256":
            return RSAKey.import_key(pem)
        return OKPKey.import_key(pem)
    except (JoseError, ValueError, TypeError) as exc:
        raise JoseFailure(f"cannot load {name} private key: {type(exc).__name__}") from None


def private_pem(key: PrivateKey) -> bytes:
    return key.as_pem(private=True)


def public_jwk(key: PrivateKey, *, kid: str, alg: str) -> dict[str, Any]:
    """The public half as a JWK with ``kid``, ``alg`` and ``use=sig`` (RFC 7517 §4)."""
    jwk: dict[str, Any] = dict(key.as_dict(private=False))
    jwk.update({"kid": kid, "alg": canonical_alg(alg), "use": "sig"})
    return jwk


def thumbprint(key: PrivateKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key: Pixie's ``kid``.

    Spec: RFC 7638 §3.
    """
    return key.thumbprint()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _json(value: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (RFC 7519 §7.1: claims are UTF-8), by orjson, which is cheaper than :func:`json.dumps`."""
    return orjson.dumps(value)


class CompactSigner:
    """Signs compact JWS tokens for one key and one header, straight on :mod:`cryptography`.

    The header segment is encoded once; each token costs one JSON dump, one signature and base64.
    ``tests/tokens`` checks that joserfc verifies every token this produces, for each algorithm.

    Spec: RFC 7515 §5.1 (JWS compact serialisation), RFC 7518 §3.3–3.4 (RS256, ES256 raw ``r || s``), RFC 8037 §3.1.
    """

    def __init__(self, key: PrivateKey, header: Mapping[str, Any]) -> None:
        alg = canonical_alg(str(header["alg"]))
        self._prefix = _b64(_json(dict(header) | {"alg": alg})) + b"."
        raw = key.raw_value
        self._sign: Callable[[bytes], bytes]
        if alg == "ES256" and isinstance(raw, ec.EllipticCurvePrivateKey):
            self._sign = lambda data: _es256(raw, data)
        elif alg == "RS256" and isinstance(raw, rsa.RSAPrivateKey):
            self._sign = lambda data: raw.sign(data, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "Ed25519" and isinstance(raw, ed25519.Ed25519PrivateKey):
            self._sign = raw.sign
        else:
            raise JoseFailure(f"the key does not fit {alg}")

    def sign(self, claims: Mapping[str, Any]) -> str:
        signing_input = self._prefix + _b64(_json(claims))
        return (signing_input + b"." + _b64(self._sign(signing_input))).decode("ascii")


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _es256(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, _ECDSA_SHA256))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
