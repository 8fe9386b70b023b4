"""Issuing tokens: RFC 9068 JWT access tokens, opaque refresh tokens and authorization codes.

Opaque secrets (codes, refresh tokens) are 256-bit random strings handed out once; only their SHA-256 digests are
stored (ARCHITECTURE §6.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pixie.security import hash_secret, new_id, new_token
from pixie.storage.records import Client, Tenant
from pixie.tokens.keys import KeyRing
from pixie.types import Timestamp

__all__ = ["AccessToken", "OpaqueSecret", "TokenIssuer", "new_opaque_secret"]


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


class TokenIssuer:
    """Signs access tokens with the tenant's active key."""

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
    ) -> AccessToken:
        """A JWT access token with ``typ: at+jwt`` and the claims RFC 9068 §2.2 requires; with ``dpop_jkt``, bound
        to that DPoP key (``cnf.jkt``), so that it works only with proofs the key signs.

        ``aud`` is the client's registered audiences, else the tenant's default audience, else the issuer.

        Spec: RFC 9068 §2.1, §2.2; RFC 9449 §6.1 (``cnf.jkt``).
        """
        ttl = client.access_token_ttl or tenant.settings.access_token_ttl
        issued_at = int(now)
        jti = new_id()
        audiences = list(client.audiences) or [tenant.settings.default_audience or issuer]
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
        signer = await self._keyring.signer(tenant.id)
        token = signer.sign(claims, typ="at+jwt")
        return AccessToken(token=token, jti=jti, expires_at=issued_at + ttl, expires_in=ttl, claims=claims)
