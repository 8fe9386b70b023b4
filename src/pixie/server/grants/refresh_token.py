"""The refresh-token grant: rotation on every use, exact reuse detection, and an opt-in grace window.

Every refresh token belongs to a *family* (one per authorization). Using a token rotates it: a successor is issued
and the old one is marked used, atomically, so of N simultaneous uses exactly one rotates. Presenting a token that
was already rotated is reuse — someone holds a copy — and revokes the whole family (RFC 9700 §4.14.2).

A client registered with ``refresh_grace_seconds`` > 0 may repeat an *identical* request (same token, same scope)
within that window and receives the very same new pair again, so a response lost on a flaky network does not log the
user out; it never creates a second branch of the family. The pair is kept encrypted under a key derived from the
old refresh token itself, so only a holder of that token can ever read it and nothing is stored in plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pixie import scopes as scope_rules
from pixie.errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient
from pixie.events import EventSink, RefreshReuseDetected, RefreshRotated, TokenIssued
from pixie.security import DecryptionFailed, decrypt_at_rest, derive_key, encrypt_at_rest, hash_secret
from pixie.server.protocol.resource_indicators import granted_target, scopes_for_resources
from pixie.server.protocol.sender_constraint import check_binding, token_type
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, RefreshFamily, RefreshToken, Tenant
from pixie.tokens.issuer import TokenIssuer, new_opaque_secret
from pixie.types import Timestamp

__all__ = ["ReuseDetected", "refresh"]


class ReuseDetected(InvalidGrant):
    """A rotated refresh token was presented again; its family is now revoked (the client sees ``invalid_grant``)."""

    default_description = "refresh token was already used; the session it belonged to is revoked"

    def __init__(self, family_id: str) -> None:
        super().__init__()
        self.family_id = family_id


def _retry_key(token: str) -> bytes:
    return derive_key(token.encode("utf-8"), "pixie refresh retry v1")


def _seal_retry(token: str, digest: str, scope_param: str | None, response: Mapping[str, Any], exp: float) -> bytes:
    payload = {"scope_param": scope_param, "response": dict(response), "access_expires_at": exp}
    return encrypt_at_rest(_retry_key(token), json.dumps(payload).encode("utf-8"), f"refresh-retry:{digest}")


def _open_retry(token: str, used: RefreshToken, scope_param: str | None, now: Timestamp) -> dict[str, Any] | None:
    """The stored pair if this is an identical retry and it can be opened; None otherwise."""
    if used.retry_response is None:
        return None
    try:
        payload = json.loads(
            decrypt_at_rest(_retry_key(token), used.retry_response, f"refresh-retry:{used.token_hash}")
        )
    except (DecryptionFailed, ValueError):
        return None
    if payload.get("scope_param") != scope_param:
        return None
    response: dict[str, Any] = payload["response"]
    response["expires_in"] = max(int(payload["access_expires_at"] - now), 0)
    return response


async def refresh(
    params: Mapping[str, str],
    *,
    client: Client,
    tenant: Tenant,
    issuer: str,
    storage: Storage,
    tokens: TokenIssuer,
    events: EventSink,
    now: Timestamp,
    dpop_jkt: str | None = None,
    resources: Sequence[str] = (),
) -> dict[str, Any]:
    """Exchange a refresh token for a new access token and a new refresh token. ``resources`` (checked
    ``resource`` values) may name a subset of the resources the family was granted, never another; the access
    token is for those (all granted ones when none is named), with the scopes they accept.

    Spec: RFC 6749 §6, RFC 9700 §4.14.2, OAuth 2.1 §4.3; RFC 8707 §2.2; OpenID Connect Core 1.0 §12.2 (an ID
    token on refresh when the grant included ``openid``).
    """
    if "refresh_token" not in client.grant_types:
        raise UnauthorizedClient("this client may not use the refresh token grant")
    token = params.get("refresh_token")
    if not token:
        raise InvalidRequest("refresh_token is missing")
    scope_param = params.get("scope")
    # What makes a retry identical (the grace window): the scope asked for, and the resources.
    shape = scope_param if not resources else f"{scope_param or ''}\x00{' '.join(resources)}"
    digest = hash_secret(token)
    found = await storage.refresh.get_with_user(tenant.id, digest)  # one read: the user is checked below
    if found is None:
        raise InvalidGrant("refresh token is invalid")
    current, family, user = found
    if family.client_id != client.client_id:
        raise InvalidGrant("refresh token was issued to another client")
    if family.revoked_at is not None:
        raise InvalidGrant("refresh token is revoked")
    check_binding(family.dpop_jkt, dpop_jkt, "refresh token")  # before anything is spent
    if current.used_at is not None:
        return await _reused(storage, events, client, tenant, family, current, token, shape, now)
    target = await granted_target(storage.resources, tenant.id, family.resources, resources)
    requested = scope_rules.parse_requested(scope_param)
    if not set(requested) <= set(family.scopes):
        raise InvalidScope("a refresh may narrow the scope, never widen it")
    scopes = requested or family.scopes
    if family.user_id is not None:
        if user is None or user.disabled:
            raise InvalidGrant("the user of this refresh token is disabled or gone")
        # Role-gated scopes apply again: a user who lost a role stops receiving its scopes at the next refresh.
        scopes = scope_rules.permitted(scopes, user.roles, tenant.settings.scope_roles)
        if not scopes and family.scopes:
            raise InvalidGrant("this account may no longer use the scopes of this refresh token")
    scopes = scopes_for_resources(scopes, target, explicit=bool(requested))

    access = await tokens.access_token(
        tenant=tenant,
        issuer=issuer,
        client=client,
        subject=family.user_id or client.client_id,
        scopes=scopes,
        now=now,
        auth_time=family.auth_time,
        dpop_jkt=dpop_jkt,
        resources=target.identifiers,
        ttl=target.access_token_ttl,
    )
    successor = new_opaque_secret()
    idle_ttl = client.refresh_idle_ttl or tenant.settings.refresh_idle_ttl
    response: dict[str, Any] = {
        "access_token": access.token,
        "token_type": token_type(dpop_jkt),
        "expires_in": access.expires_in,
        "scope": " ".join(scopes),
        "refresh_token": successor.value,
    }
    sealed = None
    if "openid" in scopes and family.user_id is not None:
        # Core §12.2: same iss, sub, aud and auth_time as at sign-in; no nonce.
        response["id_token"] = await tokens.id_token(
            tenant=tenant,
            issuer=issuer,
            client=client,
            subject=family.user_id,
            now=now,
            auth_time=family.auth_time,
            sid=family.sid,
            access_token=access.token,
        )
    if client.refresh_grace_seconds > 0:
        sealed = _seal_retry(token, digest, shape, response, access.expires_at)
    rotation = await storage.refresh.rotate(
        tenant.id,
        digest,
        RefreshToken(
            tenant_id=tenant.id,
            token_hash=successor.digest,
            family_id=family.family_id,
            scopes=scopes,
            created_at=now,
            expires_at=min(now + idle_ttl, family.absolute_expires_at),
            access_jti=access.jti,
            access_expires_at=access.expires_at,
        ),
        now,
        retry_response=sealed,
    )
    if rotation.status == "rotated":
        events.emit(RefreshRotated(tenant_id=tenant.id, client_id=client.client_id, family_id=family.family_id))
        events.emit(TokenIssued(tenant_id=tenant.id, client_id=client.client_id, grant_type="refresh_token"))
        return response
    if rotation.status == "already_used" and rotation.token is not None:
        # Lost a race with a concurrent use of the same token: a retry inside the grace window, or reuse.
        return await _reused(storage, events, client, tenant, family, rotation.token, token, shape, now)
    raise InvalidGrant("refresh token is invalid, expired or revoked")


async def _reused(
    storage: Storage,
    events: EventSink,
    client: Client,
    tenant: Tenant,
    family: RefreshFamily,
    used: RefreshToken,
    token: str,
    scope_param: str | None,
    now: Timestamp,
) -> dict[str, Any]:
    grace = min(client.refresh_grace_seconds, 60)
    if grace > 0 and used.used_at is not None and now - used.used_at <= grace:
        replay = _open_retry(token, used, scope_param, now)
        if replay is not None:
            return replay
    await storage.refresh.revoke_family(tenant.id, family.family_id, "refresh_reuse", now)
    events.emit(RefreshReuseDetected(tenant_id=tenant.id, client_id=client.client_id, family_id=family.family_id))
    raise ReuseDetected(family.family_id)
