"""``POST /token``: parse the form, authenticate the client, hand the grant to its protocol function.

Spec: RFC 6749 §3.2 and §5, OAuth 2.1 §3.2.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import (
    InvalidClient,
    InvalidDPoPProof,
    InvalidRequest,
    OAuthError,
    TooManyRequests,
    UnsupportedGrantType,
    safe_text,
)
from pixie.events import ClientAuthenticationFailed, RateLimited, TokenIssued
from pixie.server.back_channel import read_form_with_resources
from pixie.server.context import AppContext, tenant_of
from pixie.server.grants import IMPLEMENTED_GRANTS
from pixie.server.grants.authorization_code import exchange_code
from pixie.server.grants.client_credentials import client_credentials
from pixie.server.grants.refresh_token import refresh
from pixie.server.protocol.client_authentication import authenticate_client, parse_basic
from pixie.server.protocol.resource_indicators import resolve_resources, resource_values
from pixie.server.protocol.sender_constraint import proof_key
from pixie.server.rendering import json_response
from pixie.storage.records import Tenant

__all__ = ["token"]

_TOUCH_EVERY = 3600.0
"""Seconds between two records of a self-registered client's last use (its idle limit is counted in days)."""


async def token(request: Request) -> Response:
    ctx, tenant = await tenant_of(request)
    form, resources = await read_form_with_resources(request)
    wait = await ctx.limiter.token_from_ip(tenant.id, request.client.host if request.client else None)
    if wait is not None:
        ctx.events.emit(RateLimited(tenant_id=tenant.id, client_id=_claimed_client(request, form), error="token_ip"))
        raise TooManyRequests(wait)
    try:
        return await _token(request, ctx, tenant, form, resources)
    except InvalidClient:
        ctx.events.emit(ClientAuthenticationFailed(tenant_id=tenant.id, client_id=_claimed_client(request, form)))
        raise
    except OAuthError as exc:
        ctx.events.emit(
            TokenIssued(
                tenant_id=tenant.id,
                client_id=_claimed_client(request, form),
                outcome="failure",
                error=exc.error,
                reason=exc.description,
                grant_type=form.get("grant_type", "")[:40],
            )
        )
        raise


def _claimed_client(request: Request, form: dict[str, str]) -> str | None:
    """The client id a failed request claimed (for events only: unauthenticated, never trusted)."""
    try:
        basic = parse_basic(request.headers.get("authorization"))
    except InvalidClient:
        basic = None
    claimed = basic[0] if basic else form.get("client_id")
    return claimed[:255] if claimed else None


async def _token(
    request: Request, ctx: AppContext, tenant: Tenant, form: dict[str, str], resource_params: list[str]
) -> Response:
    client = await authenticate_client(
        tenant_id=tenant.id,
        clients=ctx.storage.clients,
        authorization=request.headers.get("authorization"),
        form=form,
    )
    wait = await ctx.limiter.token_for_client(tenant.id, client.client_id)
    if wait is not None:
        ctx.events.emit(RateLimited(tenant_id=tenant.id, client_id=client.client_id, error="token_client"))
        raise TooManyRequests(wait)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is missing")
    if grant_type not in IMPLEMENTED_GRANTS or grant_type not in tenant.settings.allowed_grant_types:
        raise UnsupportedGrantType(f"grant_type {safe_text(grant_type)} is not supported")
    issuer, now, events = ctx.issuer(tenant), time.time(), ctx.events
    nonces = ctx.dpop_nonces.accepted(tenant.id, now) if tenant.settings.dpop_nonce and ctx.dpop_nonces else []
    dpop_jkt = await proof_key(
        request.headers.getlist("dpop"),
        url=f"{issuer}/token",
        checker=ctx.dpop,
        proofs=ctx.storage.proofs,
        tenant_id=tenant.id,
        nonces=nonces,
    )
    if dpop_jkt is None and client.dpop_bound_access_tokens:
        raise InvalidDPoPProof("this client must send a DPoP proof (dpop_bound_access_tokens)")
    resources = resource_values([("resource", value) for value in resource_params])  # RFC 8707 §2
    if grant_type == "authorization_code":
        result = await exchange_code(
            form,
            client=client,
            tenant=tenant,
            issuer=issuer,
            storage=ctx.storage,
            codes=ctx.code_sealer,
            tokens=ctx.tokens,
            events=events,
            now=now,
            dpop_jkt=dpop_jkt,
            resources=resources,
        )
    elif grant_type == "refresh_token":
        result = await refresh(
            form,
            client=client,
            tenant=tenant,
            issuer=issuer,
            storage=ctx.storage,
            tokens=ctx.tokens,
            events=events,
            now=now,
            dpop_jkt=dpop_jkt,
            resources=resources,
        )
    else:
        result = await client_credentials(
            form,
            client=client,
            tenant=tenant,
            issuer=issuer,
            tokens=ctx.tokens,
            events=events,
            now=now,
            dpop_jkt=dpop_jkt,
            target=await resolve_resources(ctx.storage.resources, tenant.id, resources),
        )
    if client.registration_access_token_hash is not None and (client.last_used_at or 0) < now - _TOUCH_EVERY:
        # A self-registered client's last use decides when housekeeping removes it: written at most once per
        # window (the cached record is marked too, so the requests that follow skip this).
        await ctx.storage.clients.touch(tenant.id, client.client_id, now, every=_TOUCH_EVERY)
    response = json_response(result, no_store=True)
    if nonces:
        response.headers["DPoP-Nonce"] = nonces[0]  # the current one, for the client's next proof (RFC 9449 §8.2)
    return response
