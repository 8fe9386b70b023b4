"""Introspection of refresh and access tokens for resource servers (RFC 7662).

Refresh tokens are looked up by digest; access tokens are Pixie's own JWTs, checked with the tenant's keys and the
deny-list of revoked ones. Only confidential clients may ask, and each learns only about the tokens it has a right
to see (:func:`may_introspect`); about any other token it hears ``{"active": false}``, the answer for a token that
does not exist, so introspection is no oracle for other clients' tokens. A token whose client or user has been
disabled (or deleted) is inactive too (:func:`token_parties`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pixie.errors import InvalidRequest, UnauthorizedClient
from pixie.events import EventSink, Introspected
from pixie.security import hash_secret
from pixie.server.protocol.token_revocation import lookup_order
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, Tenant, User
from pixie.tokens.keys import KeyRing
from pixie.tokens.validation import own_access_token_claims
from pixie.types import TenantId, Timestamp

__all__ = ["introspect", "may_introspect", "token_parties", "token_user"]


def may_introspect(caller: Client, token_client_id: str, audiences: Sequence[str]) -> bool:
    """Whether ``caller`` may learn about a token issued to ``token_client_id`` for ``audiences``: it is the
    token's own client, or one of the audiences is its client id (a resource server authenticates with the client
    id that its tokens carry as their audience). A refresh token counts as addressed to the audiences of the access
    tokens it yields.

    A client whose own registered audiences include the token's is *not* enough: those are the APIs a client
    calls, and every caller of one API would learn about every other caller's tokens.

    Spec: RFC 7662 §2.2 ("the protected resource is not allowed to introspect this particular token" → ``active``
    false), §4 (the server MUST determine whether the token can be used at the protected resource asking);
    RFC 9068 §3 and RFC 8707 (``aud`` names the resource the token is for).
    """
    return caller.client_id == token_client_id or caller.client_id in audiences


def token_user(claims: Mapping[str, Any]) -> str | None:
    """The user an access token was issued for, or None for a client's own token (client credentials: ``sub`` is
    the client id). User ids are random, so a user's ``sub`` never equals a client id by chance.

    Spec: RFC 9068 §2.2 (``sub`` of a client-credentials token), §5 (``sub`` and ``client_id`` collisions).
    """
    subject = claims.get("sub")
    return str(subject) if subject is not None and subject != claims.get("client_id") else None


async def token_parties(
    storage: Storage, tenant_id: TenantId, client_id: str, user_id: str | None
) -> tuple[Client, User | None] | None:
    """The client a token was issued to and its user (None for a client's own token), or None when either is gone
    or disabled — so a token ends with its account rather than at its expiry. ``storage.clients`` is the server's
    cached client store: a client disabled through this server counts at once, one disabled elsewhere (another
    instance, the CLI) within the cache's 5 s. Users are read afresh every time.

    Spec: RFC 7662 §2.2 (``active``: whether the server considers the token currently usable), RFC 9700 §4.14.2
    (tokens may be revoked on security events, such as an account being disabled).
    """
    client = await _live_client(storage, tenant_id, client_id)
    if client is None or user_id is None:
        return None if client is None else (client, None)
    user = await storage.users.get(tenant_id, user_id)
    return None if user is None or user.disabled else (client, user)


async def _live_client(storage: Storage, tenant_id: TenantId, client_id: str) -> Client | None:
    client = await storage.clients.get(tenant_id, client_id)
    return None if client is None or client.disabled else client


def _granted_audiences(owner: Client, tenant: Tenant, issuer: str) -> tuple[str, ...]:
    """The audiences of the access tokens a refresh token of ``owner`` yields (the rule of
    :meth:`pixie.tokens.issuer.TokenIssuer.access_token`): the resources the grant is for.

    Spec: RFC 8707 §2.2 (a refresh token stands for the resources of its grant).
    """
    return owner.audiences or (tenant.settings.default_audience or issuer,)


def _audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    return tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else ()


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
    revoked, expired, used, reused-family, malformed or other tenant's token, a token of a disabled client or user,
    and a token the caller may not introspect (:func:`may_introspect`).

    Spec: RFC 7662 §2.1–§2.2, §4 (only authenticated, confidential callers; only about tokens meant for them).
    """
    if client.client_type != "confidential":
        raise UnauthorizedClient("only confidential clients (resource servers) may introspect")
    token = params.get("token")
    if not token:
        raise InvalidRequest("token is missing")
    for kind in lookup_order(params):
        if kind == "refresh_token":
            # One read: the token, its family and the family's user (read afresh, as token_parties reads it).
            found = await storage.refresh.get_with_user(tenant.id, hash_secret(token))
            if found is None:
                continue
            record, family, user = found
            live = (
                record.used_at is None
                and family.revoked_at is None
                and now < record.expires_at
                and now < family.absolute_expires_at
                and (family.user_id is None or (user is not None and not user.disabled))
            )
            if not live:
                return {"active": False}
            owner = await _live_client(storage, tenant.id, family.client_id)
            if owner is None or not may_introspect(client, family.client_id, _granted_audiences(owner, tenant, issuer)):
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
        token_client = str(claims.get("client_id", ""))
        if not may_introspect(client, token_client, _audiences(claims)):
            return {"active": False}
        if await storage.denylist.is_denied(tenant.id, claims["jti"]):
            return {"active": False}
        if await token_parties(storage, tenant.id, token_client, token_user(claims)) is None:
            return {"active": False}
        # A DPoP-bound token says so, and its cnf (among the claims) names the key (RFC 9449 §6.2).
        return {"active": True, "token_type": "DPoP" if "cnf" in claims else "Bearer", **claims}
    return {"active": False}
