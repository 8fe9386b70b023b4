"""``POST /revoke`` (RFC 7009) and ``POST /introspect`` (RFC 7662): authenticate the client, call the protocol."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from pixie.server.back_channel import read_form
from pixie.server.context import AppContext, tenant_of
from pixie.server.protocol import token_introspection, token_revocation
from pixie.server.protocol.client_authentication import authenticate_client
from pixie.server.rendering import json_response
from pixie.storage.records import Client, Tenant

__all__ = ["introspect", "revoke"]


async def _authenticated(request: Request) -> tuple[AppContext, Tenant, dict[str, str], Client]:
    ctx, tenant = await tenant_of(request)
    form = await read_form(request)
    client = await authenticate_client(
        tenant_id=tenant.id, clients=ctx.storage.clients, authorization=request.headers.get("authorization"), form=form
    )
    return ctx, tenant, form, client


async def revoke(request: Request) -> Response:
    ctx, tenant, form, client = await _authenticated(request)
    await token_revocation.revoke(
        form,
        client=client,
        tenant=tenant,
        issuer=ctx.issuer(tenant),
        storage=ctx.storage,
        keyring=ctx.keyring,
        events=ctx.events,
        now=time.time(),
    )
    return Response(status_code=200, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def introspect(request: Request) -> Response:
    ctx, tenant, form, client = await _authenticated(request)
    result = await token_introspection.introspect(
        form,
        client=client,
        tenant=tenant,
        issuer=ctx.issuer(tenant),
        storage=ctx.storage,
        keyring=ctx.keyring,
        events=ctx.events,
        now=time.time(),
    )
    return json_response(result, no_store=True)
