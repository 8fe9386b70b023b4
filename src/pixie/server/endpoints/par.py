"""``POST /par``: pushed authorization requests (RFC 9126).

The client authenticates as at ``/token``; the parameters are validated exactly as ``/authorize`` would, and any
error is answered here as JSON (RFC 9126 §2.3), before anything is stored. A DPoP proof sent with the push binds
the coming code to its key, as ``dpop_jkt`` would (RFC 9449 §10.1).

Spec: RFC 9126 §2.1–2.3; RFC 9449 §10.1.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import InvalidDPoPProof, InvalidRequest, TooManyRequests
from pixie.server.back_channel import read_form_with_resources
from pixie.server.context import tenant_of
from pixie.server.grants.authorization_code import (
    RedirectableError,
    UntrustedRequest,
    validate_authorization_request,
)
from pixie.server.protocol.client_authentication import authenticate_client
from pixie.server.protocol.pushed_requests import PUSHED_LIFETIME, store_pushed
from pixie.server.protocol.sender_constraint import proof_key
from pixie.server.rendering import json_response

__all__ = ["par"]


async def par(request: Request) -> Response:
    ctx, tenant = await tenant_of(request)
    form, resources = await read_form_with_resources(request)
    wait = await ctx.limiter.token_from_ip(tenant.id, request.client.host if request.client else None)
    if wait is not None:
        raise TooManyRequests(wait)
    client = await authenticate_client(
        tenant_id=tenant.id,
        clients=ctx.storage.clients,
        authorization=request.headers.get("authorization"),
        form=form,
    )
    if "request_uri" in form:
        raise InvalidRequest("request_uri cannot be pushed")
    if form.get("client_id", client.client_id) != client.client_id:
        raise InvalidRequest("client_id is not the authenticated client")
    # The authorization request's own parameters: client credentials are not part of it.
    pairs = [(k, v) for k, v in form.items() if k not in ("client_secret", "client_assertion", "client_assertion_type")]
    pairs = [(k, v) for k, v in pairs if k != "client_id"] + [("client_id", client.client_id)]
    pairs += [("resource", value) for value in resources]  # RFC 8707: every one, checked as /authorize does
    now, issuer = time.time(), ctx.issuer(tenant)
    jkt = await proof_key(
        request.headers.getlist("dpop"),
        url=f"{issuer}/par",
        checker=ctx.dpop,
        proofs=ctx.storage.proofs,
        tenant_id=tenant.id,
    )
    if jkt is not None:
        named = form.get("dpop_jkt")
        if named is not None and named != jkt:
            raise InvalidDPoPProof("dpop_jkt does not name the key of the DPoP proof")
        if named is None:
            pairs.append(("dpop_jkt", jkt))
    try:
        await validate_authorization_request(
            pairs, tenant=tenant, clients=ctx.storage.clients, resources=ctx.storage.resources
        )
    except (UntrustedRequest, RedirectableError) as exc:
        raise exc.error from None
    request_uri = await store_pushed(
        ctx.storage.pushed, tenant_id=tenant.id, client_id=client.client_id, pairs=pairs, now=now
    )
    return json_response({"request_uri": request_uri, "expires_in": PUSHED_LIFETIME}, status=201, no_store=True)
