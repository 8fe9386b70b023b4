"""JOSE operations: the only module that imports the JOSE library (joserfc).

joserfc was picked over PyJWT by ``bench/jose_pick.py`` (one core of this project's 2-core machine, ES256):
joserfc verifies about 19 % faster (8.0k/s against 6.7k/s) and signs about 13 % slower (13.4k/s against 15.5k/s).
Verification is the hot path — every API call through :mod:`pixie.resource` — while signing happens once per
token; joserfc is also fully typed and brings RFC 7638 thumbprints and JWK sets.

Algorithms: ``ES256`` (default), ``RS256`` and ``Ed25519`` — the fully-specified name RFC 9864 gives EdDSA over
Ed25519 (``EdDSA`` is accepted as a configuration alias). ``none`` and HMAC algorithms are never produced or accepted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

__all__ = [
    "ALGORITHMS",
    "JoseFailure",
    "PrivateKey",
    "VerifiedJwt",
    "canonical_alg",
    "generate_private_key",
    "load_private_key",
    "private_pem",
    "public_jwk",
    "sign_jwt",
    "thumbprint",
    "verify_jwt",
]

ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "Ed25519")
_ALIASES = {"EdDSA": "Ed25519"}

PrivateKey = ECKey | RSAKey | OKPKey


class JoseFailure(ValueError):
    """A token that does not parse or verify, or a key that cannot be used. The message is safe to log."""


@dataclass(frozen=True)
class VerifiedJwt:
    header: dict[str, Any]
    claims: dict[str, Any]


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


def sign_jwt(header: Mapping[str, Any], claims: Mapping[str, Any], key: PrivateKey) -> str:
    """A compact JWS over ``claims``. ``header`` must carry ``alg`` (one of :data:`ALGORITHMS`), ``kid`` and
    ``typ``."""
    alg = canonical_alg(str(header["alg"]))
    return jwt.encode(dict(header) | {"alg": alg}, dict(claims), key, algorithms=[alg])


def verify_jwt(token: str, jwks: Mapping[str, Any], algorithms: Collection[str] = ALGORITHMS) -> VerifiedJwt:
    """Check the signature of ``token`` against a JWK set (by ``kid``) and return header and claims.

    Only the signature and algorithm are checked here; claim rules (``iss``, ``aud``, ``exp``, ``typ``) belong to
    the caller (RFC 9068 §4).
    """
    allowed = [canonical_alg(a) for a in algorithms]
    try:
        key_set = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        token_obj = jwt.decode(token, key_set, algorithms=allowed)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise JoseFailure(f"token rejected: {type(exc).__name__}") from None
    return VerifiedJwt(header=dict(token_obj.header), claims=dict(token_obj.claims))
