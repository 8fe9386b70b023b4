"""Introspection of refresh and access tokens for resource servers (RFC 7662).

Refresh tokens are looked up by digest; access tokens are Pixie's own JWTs, checked with the tenant's keys and the
deny-list of revoked ones. Only confidential clients may ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixie.errors import InvalidRequest, UnauthorizedClient
from pixie.events import EventSink, Introspected
from pixie.security import hash_secret
from pixie.server.protocol.token_revocation import lookup_order
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, Tenant
from pixie.tokens.keys import KeyRing
from pixie.tokens.validation import own_access_token_claims
from pixie.types import Timestamp

__all__ = ["introspect"]


async def introspect(
    params: Mapping[str, str],
    *,
    client: Client,
    tenant: Tenant,
    issuer: str,
    storage: Storage,
    keyring: KeyRing,
    events: EventSink,
    now: Timestamp,
) -> dict[str, Any]:
    """Introspect and record an ``introspected`` event (see :func:`_introspect`)."""
    result = await _introspect(
        params, client=client, tenant=tenant, issuer=issuer, storage=storage, keyring=keyring, now=now
    )
    events.emit(Introspected(tenant_id=tenant.id, client_id=client.client_id, active=bool(result["active"])))
    return result


async def _introspect(
    params: Mapping[str, str],
    *,
    client: Client,
    tenant: Tenant,
    issuer: str,
    storage: Storage,
    keyring: KeyRing,
    now: Timestamp,
) -> dict[str, Any]:
    """The state of a token for a resource server: ``active`` plus its claims, or just ``{"active": false}`` for a
    revoked, expired, used, reused-family, malformed or other tenant's token.

    Spec: RFC 7662 §2.1–§2.2, §4 (only authenticated, confidential callers).
    """
    if client.client_type != "confidential":
        raise UnauthorizedClient("only confidential clients (resource servers) may introspect")
    token = params.get("token")
    if not token:
        raise InvalidRequest("token is missing")
    for kind in lookup_order(params):
        if kind == "refresh_token":
            found = await storage.refresh.get(tenant.id, hash_secret(token))
            if found is None:
                continue
            record, family = found
            live = (
                record.used_at is None
                and family.revoked_at is None
                and now < record.expires_at
                and now < family.absolute_expires_at
            )
            if not live:
                return {"active": False}
            return {
                "active": True,
                "token_type": "refresh_token",
                "scope": " ".join(record.scopes),
                "client_id": family.client_id,
                "sub": family.user_id or family.client_id,
                "iss": issuer,
                "iat": int(record.created_at),
                "exp": int(record.expires_at),
            }
        claims = await own_access_token_claims(keyring, tenant.id, issuer, token, now)
        if claims is None:
            continue
        if await storage.denylist.is_denied(tenant.id, claims["jti"]):
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **claims}
    return {"active": False}
