"""Checking Pixie's own access tokens (for revocation, introspection and userinfo at the authorization server) and
its own ID tokens (an ``id_token_hint`` at logout).

The token comes from outside — whoever calls ``/introspect`` or ``/revoke`` — so its signature is checked on the
one verification path, :func:`pixie.resource.jws.verify_jwt` (joserfc), against the tenant's published keys.
"""

from __future__ import annotations

from typing import Any

from pixie.resource import jws
from pixie.tokens import signing
from pixie.tokens.keys import KeyRing
from pixie.types import TenantId, Timestamp

__all__ = ["own_access_token_claims", "own_id_token_claims"]


async def own_access_token_claims(
    keyring: KeyRing, tenant_id: TenantId, issuer: str, token: str, now: Timestamp, *, allow_expired: bool = False
) -> dict[str, Any] | None:
    """The claims of an access token this tenant issued — signature by one of its published keys, ``typ`` at+jwt,
    ``iss`` equal to the tenant's issuer, not expired — or None. A token of another tenant has another ``iss`` and
    other keys, so it is None here.

    Spec: RFC 9068 §4 (validation), §2.1 (``typ``).
    """
    if token.count(".") != 2:  # an opaque token (a refresh token): not worth a key look-up
        return None
    try:
        verified = jws.verify_jwt(token, await keyring.jwks(tenant_id), signing.ALGORITHMS)
    except jws.JWSError:
        return None
    claims = verified.claims
    if str(verified.header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        return None
    if claims.get("iss") != issuer or not isinstance(claims.get("exp"), int) or not isinstance(claims.get("jti"), str):
        return None
    if not allow_expired and claims["exp"] <= now:
        return None
    return claims


async def own_id_token_claims(keyring: KeyRing, tenant_id: TenantId, issuer: str, token: str) -> dict[str, Any] | None:
    """The claims of an ID token this tenant issued — signature by one of its published keys, ``iss`` equal to the
    tenant's issuer, a ``sub`` and an ``aud`` — or None. Expiry is not checked: an RP may send an expired ID token
    as a hint at logout, and it still says whom it was about.

    Spec: OpenID Connect Core 1.0 §3.1.3.7 (validation), §2 (``id_token_hint``); RP-Initiated Logout 1.0 §2.
    """
    if len(token) > 8192 or token.count(".") != 2:
        return None
    try:
        verified = jws.verify_jwt(token, await keyring.jwks(tenant_id), signing.ALGORITHMS)
    except jws.JWSError:
        return None
    claims = verified.claims
    if str(verified.header.get("typ", "JWT")).upper() != "JWT":
        return None  # an access token (at+jwt) is not an ID token
    if claims.get("iss") != issuer or not isinstance(claims.get("sub"), str) or "aud" not in claims:
        return None
    return claims
