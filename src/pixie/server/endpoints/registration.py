"""``POST /register`` (RFC 7591) and ``GET``/``DELETE /register/{client_id}`` (RFC 7592), per tenant.

The tenant's ``registration`` setting decides who may register (see :mod:`pixie.registration`); when it is ``off``
both paths answer 404, as for any path Pixie does not serve. Registrations are counted per address before
anything else is read. Every answer, success or error, carries ``Cache-Control: no-store``: the successful ones
hold secrets (RFC 7591 §3.2.1). A missing or wrong Bearer token is 401 with a ``WWW-Authenticate`` challenge
(RFC 6750 §3).

Spec: RFC 7591 §3, §3.2.1, §3.2.2; RFC 7592 §2.1, §2.3.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import InvalidClientMetadata, InvalidRequest, InvalidToken, TooManyRequests
from pixie.registration import (
    bearer_token,
    check_client_metadata,
    check_initial_access_token,
    check_registration_access_token,
    client_information,
    register,
    resource_scopes,
)
from pixie.server.context import AppContext, tenant_of
from pixie.server.json_input import parse_json
from pixie.server.protocol.client_id_documents import is_client_id_url
from pixie.server.rendering import json_response
from pixie.storage.records import Client, Tenant

__all__ = ["register_client", "registered_client"]


class RegistrationOff(InvalidRequest):
    """The tenant does not offer dynamic registration: 404, as for a path that does not exist."""

    status = 404
    default_description = "this server does not offer dynamic client registration"


def _challenge(error: InvalidToken, realm: str) -> Response:
    rendered = error.render_bearer(realm=realm)
    return Response(rendered.body, status_code=rendered.status, headers=rendered.headers)


async def register_client(request: Request) -> Response:
    """``POST /register``: a JSON object of client metadata in, the client information out (201)."""
    context, tenant = await tenant_of(request)
    policy = tenant.settings.registration
    if policy == "off":
        raise RegistrationOff()
    wait = await context.limiter.register_from_ip(request.client.host if request.client else None)
    if wait is not None:
        raise TooManyRequests(wait)
    now = time.time()
    presented = bearer_token(request.headers.get("authorization"))
    if policy == "token":
        try:
            await check_initial_access_token(context.storage, tenant.id, presented, now=now)
        except InvalidToken as exc:
            return _challenge(exc, context.issuer(tenant))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidClientMetadata("the request body must be application/json")
    try:
        body = parse_json(await request.body())
    except InvalidRequest as exc:
        if exc.status != 400:
            raise
        raise InvalidClientMetadata("the request body is not a JSON object") from None
    metadata = check_client_metadata(
        body,
        tenant=tenant,
        public_only=policy == "open",
        resource_scopes=await resource_scopes(context.storage, tenant.id),
    )
    registered = await register(context.storage, tenant, metadata, now=now)
    info = client_information(registered.client, issuer=context.issuer(tenant))
    info["registration_access_token"] = registered.registration_access_token
    if registered.client_secret is not None:
        info["client_secret"] = registered.client_secret
    return json_response(info, status=201, no_store=True)


async def _registered(request: Request) -> tuple[AppContext, Tenant, Client]:
    context, tenant = await tenant_of(request)
    if tenant.settings.registration == "off":
        raise RegistrationOff()
    client_id = request.path_params["client_id"]
    # A metadata document's URL names no self-registered client: never fetch it from here.
    document = is_client_id_url(client_id, allow_loopback_http=True)
    found = None if document else await context.storage.clients.get(tenant.id, client_id)
    client = check_registration_access_token(found, bearer_token(request.headers.get("authorization")))
    return context, tenant, client


async def registered_client(request: Request) -> Response:
    """``GET /register/{client_id}``: the client's current information; ``DELETE``: the client is removed with
    everything issued to it (204). Both need the registration access token given at registration."""
    try:
        context, tenant, client = await _registered(request)
    except InvalidToken as exc:
        context, tenant = await tenant_of(request)
        return _challenge(exc, context.issuer(tenant))
    if request.method == "DELETE":
        await context.storage.clients.delete(tenant.id, client.client_id, time.time())
        return Response(status_code=204, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
    return json_response(client_information(client, issuer=context.issuer(tenant)), no_store=True)
