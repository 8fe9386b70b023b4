"""Issuing tokens: RFC 9068 JWT access tokens, opaque refresh tokens and authorization codes.

Opaque secrets (codes, refresh tokens) are 256-bit random strings handed out once; only their SHA-256 digests are
stored (ARCHITECTURE §6.6).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pixie.security import hash_secret, new_id, new_token
from pixie.storage.records import Client, Tenant
from pixie.tokens.keys import KeyRing
from pixie.types import Timestamp

__all__ = [
    "ID_TOKEN_ALGS",
    "AccessToken",
    "OpaqueSecret",
    "TokenIssuer",
    "id_token_alg",
    "left_half_hash",
    "new_opaque_secret",
]


ID_TOKEN_ALGS = ("ES256", "RS256")
"""The algorithms a client may choose for its ID tokens (RS256 is the one OpenID Connect Core §15.1 requires)."""


@dataclass(frozen=True)
class OpaqueSecret:
    """A fresh secret and the digest under which it is stored."""

    value: str
    digest: str


def new_opaque_secret() -> OpaqueSecret:
    """256 random bits (RFC 6749 §10.10 asks for at least 128), URL-safe."""
    value = new_token(32)
    return OpaqueSecret(value=value, digest=hash_secret(value))


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires_at: Timestamp
    expires_in: int
    claims: dict[str, Any]


def id_token_alg(tenant: Tenant, client: Client) -> str:
    """The algorithm of ``client``'s ID tokens: its registered ``id_token_signed_response_alg``, else the tenant's.

    Spec: OpenID Connect Registration 1.0 §2."""
    return client.id_token_signed_response_alg or tenant.settings.signing_alg


def left_half_hash(value: str, alg: str) -> str:
    """``at_hash``: base64url of the left half of the hash of ``value``'s ASCII octets, with the hash of the JWS
    ``alg`` (SHA-256 for ES256, RS256; SHA-512 for Ed25519, as OpenID Connect's errata for EdDSA say).

    Spec: OpenID Connect Core 1.0 §3.1.3.6 (``at_hash``), §3.3.2.11."""
    digest = (hashlib.sha512 if alg in ("Ed25519", "EdDSA") else hashlib.sha256)(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


class TokenIssuer:
    """Signs access tokens with the tenant's active key, ID tokens with the client's algorithm."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    async def access_token(
        self,
        *,
        tenant: Tenant,
        issuer: str,
        client: Client,
        subject: str,
        scopes: Sequence[str],
        now: Timestamp,
        auth_time: Timestamp | None = None,
        dpop_jkt: str | None = None,
        resources: Sequence[str] = (),
        ttl: int | None = None,
    ) -> AccessToken:
        """A JWT access token with ``typ: at+jwt`` and the claims RFC 9068 §2.2 requires; with ``dpop_jkt``, bound
        to that DPoP key (``cnf.jkt``), so that it works only with proofs the key signs.

        ``aud`` is the requested ``resources`` when there are any (RFC 8707), else the client's registered
        audiences, else the tenant's default audience, else the issuer. ``ttl`` (a resource's own lifetime)
        overrides the client's and the tenant's.

        Spec: RFC 9068 §2.1, §2.2; RFC 8707 §2 (``aud``); RFC 9449 §6.1 (``cnf.jkt``).
        """
        ttl = ttl or client.access_token_ttl or tenant.settings.access_token_ttl
        issued_at = int(now)
        jti = new_id()
        audiences = list(resources) or list(client.audiences) or [tenant.settings.default_audience or issuer]
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": audiences[0] if len(audiences) == 1 else audiences,
            "client_id": client.client_id,
            "scope": " ".join(scopes),
            "iat": issued_at,
            "exp": issued_at + ttl,
            "jti": jti,
        }
        if auth_time is not None:
            claims["auth_time"] = int(auth_time)
        if dpop_jkt is not None:
            claims["cnf"] = {"jkt": dpop_jkt}
        try:
            signer = await self._keyring.signer(tenant.id, tenant.settings.signing_alg)
        except LookupError:  # a ring made under another algorithm setting: its active key still signs
            signer = await self._keyring.signer(tenant.id)
        token = signer.sign(claims, typ="at+jwt")
        return AccessToken(token=token, jti=jti, expires_at=issued_at + ttl, expires_in=ttl, claims=claims)

    async def id_token(
        self,
        *,
        tenant: Tenant,
        issuer: str,
        client: Client,
        subject: str,
        now: Timestamp,
        auth_time: Timestamp | None,
        nonce: str | None = None,
        sid: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """An ID token for ``client``: ``iss``, ``sub``, ``aud`` (the client alone, so ``azp`` is not needed),
        ``exp``, ``iat``, ``auth_time``, ``nonce`` (exactly as the request sent it), ``amr`` (a password),
        ``sid`` and ``at_hash`` of the access token issued with it. Profile claims are not in it: an access token
        is always issued beside it, and userinfo releases them (Core §5.4).

        Signed with the tenant's active key of :func:`id_token_alg` (made and published on first use).

        Spec: OpenID Connect Core 1.0 §2, §3.1.3.6, §5.4, §12.2; OpenID Connect Front-Channel Logout §3 (``sid``);
        RFC 8176 §2 (``amr`` ``pwd``).
        """
        alg = id_token_alg(tenant, client)
        signer = await self._keyring.signer_for(tenant.id, alg)
        ttl = client.access_token_ttl or tenant.settings.access_token_ttl
        issued_at = int(now)
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": client.client_id,
            "exp": issued_at + ttl,
            "iat": issued_at,
        }
        if auth_time is not None:
            claims["auth_time"] = int(auth_time)
        if nonce is not None:
            claims["nonce"] = nonce
        claims["amr"] = ["pwd"]
        if sid is not None:
            claims["sid"] = sid
        if access_token is not None:
            claims["at_hash"] = left_half_hash(access_token, signer.alg)
        return signer.sign(claims, typ="JWT")
