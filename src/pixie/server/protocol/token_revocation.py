"""Revocation of refresh and access tokens (RFC 7009), and the ``token_type_hint`` rule introspection shares.

Refresh tokens are looked up by digest; access tokens are Pixie's own JWTs, checked with the tenant's keys.
``token_type_hint`` only decides which kind is tried first (RFC 7009 §2.1: a hint, never trusted).
"""

from __future__ import annotations

from collections.abc import Mapping

from pixie.errors import InvalidRequest, UnsupportedTokenType
from pixie.events import EventSink, TokenRevoked
from pixie.security import hash_secret
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, Tenant
from pixie.tokens.keys import KeyRing
from pixie.tokens.validation import own_access_token_claims
from pixie.types import Timestamp

__all__ = ["lookup_order", "revoke"]

_HINTS = ("access_token", "refresh_token")


def lookup_order(params: Mapping[str, str]) -> tuple[str, ...]:
    """The token kinds to try, the hinted one first; an unknown hint is an error.

    Spec: RFC 7009 §2.1 (``token_type_hint``, reused by RFC 7662 §2.1), §2.2.1 (``unsupported_token_type``).
    """
    hint = params.get("token_type_hint")
    if hint is not None and hint not in _HINTS:
        raise UnsupportedTokenType(f"token_type_hint must be one of {', '.join(_HINTS)}")
    return ("access_token", "refresh_token") if hint == "access_token" else ("refresh_token", "access_token")


async def revoke(
    params: Mapping[str, str],
    *,
    client: Client,
    tenant: Tenant,
    issuer: str,
    storage: Storage,
    keyring: KeyRing,
    events: EventSink,
    now: Timestamp,
) -> None:
    """Revoke a token of this client. A refresh token takes its whole family (and the access tokens recorded on
    it) with it; an access token is deny-listed by ``jti`` until it expires. Unknown, expired or foreign tokens
    are a silent no-op: the answer is 200 either way, so the endpoint reveals nothing about other clients' tokens.

    Spec: RFC 7009 §2.1–§2.2, RFC 9700 §4.14.2.
    """
    token = params.get("token")
    if not token:
        raise InvalidRequest("token is missing")
    for kind in lookup_order(params):
        if kind == "refresh_token":
            found = await storage.refresh.get(tenant.id, hash_secret(token))
            if found is not None:
                _, family = found
                if family.client_id == client.client_id:
                    await storage.refresh.revoke_family(tenant.id, family.family_id, "revoked_by_client", now)
                    events.emit(TokenRevoked(tenant_id=tenant.id, client_id=client.client_id, token_type=kind))
                return
        else:
            claims = await own_access_token_claims(keyring, tenant.id, issuer, token, now)
            if claims is not None:
                if claims.get("client_id") == client.client_id:
                    await storage.denylist.deny(tenant.id, claims["jti"], float(claims["exp"]))
                    events.emit(TokenRevoked(tenant_id=tenant.id, client_id=client.client_id, token_type=kind))
                return
