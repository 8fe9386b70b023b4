"""The client-credentials grant: a confidential client gets an access token for itself.

Spec: RFC 6749 §4.4, OAuth 2.1 §4.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixie import scopes as scope_rules
from pixie.errors import InvalidScope, UnauthorizedClient, safe_text
from pixie.events import EventSink, TokenIssued
from pixie.server.protocol.resource_indicators import Target, scopes_for_resources
from pixie.server.protocol.sender_constraint import token_type
from pixie.storage.records import Client, Tenant
from pixie.tokens.issuer import TokenIssuer
from pixie.types import Timestamp

__all__ = ["client_credentials"]


async def client_credentials(
    params: Mapping[str, str],
    *,
    client: Client,
    tenant: Tenant,
    issuer: str,
    tokens: TokenIssuer,
    events: EventSink,
    now: Timestamp,
    dpop_jkt: str | None = None,
    target: Target | None = None,
) -> dict[str, Any]:
    """A JWT access token with ``sub`` = the client id and no refresh token (RFC 6749 §4.4.3); for the resources
    of ``target`` (the request's registered ``resource`` values) when it names any.

    Spec: RFC 6749 §4.4.2–§4.4.3, RFC 9068 §2.2 (``sub`` for client-only tokens), RFC 8707 §2.
    """
    target = target or Target()
    if client.client_type != "confidential" or "client_credentials" not in client.grant_types:
        raise UnauthorizedClient("this client may not use the client credentials grant")
    requested = scope_rules.parse_requested(params.get("scope"))
    unknown = [s for s in requested if s not in client.scopes]
    if unknown:
        raise InvalidScope(f"scope not allowed for this client: {safe_text(' '.join(unknown))}")
    scopes = scopes_for_resources(requested or client.scopes, target, explicit=bool(requested))
    access = await tokens.access_token(
        tenant=tenant,
        issuer=issuer,
        client=client,
        subject=client.client_id,
        scopes=scopes,
        now=now,
        dpop_jkt=dpop_jkt,
        resources=target.identifiers,
        ttl=target.access_token_ttl,
    )
    events.emit(TokenIssued(tenant_id=tenant.id, client_id=client.client_id, grant_type="client_credentials"))
    return {
        "access_token": access.token,
        "token_type": token_type(dpop_jkt),
        "expires_in": access.expires_in,
        "scope": " ".join(scopes),
    }
