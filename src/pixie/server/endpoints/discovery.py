"""Discovery: authorization-server and OpenID Provider metadata (RFC 8414, OpenID Connect Discovery) and the JWK
set (RFC 7517)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pixie.server.context import tenant_of
from pixie.server.grants import IMPLEMENTED_GRANTS
from pixie.server.protocol.metadata import metadata_document
from pixie.server.protocol.openid import provider_metadata
from pixie.server.rendering import json_response

__all__ = ["jwks", "metadata", "metadata_document"]


async def metadata(request: Request) -> Response:
    """``GET /.well-known/oauth-authorization-server`` (and ``…/t/{tenant}``, the RFC 8414 §3.1 path-inserted form),
    and ``/.well-known/openid-configuration`` (OpenID Connect Discovery §4): one document for both."""
    context, tenant = await tenant_of(request)
    grants = tuple(g for g in IMPLEMENTED_GRANTS if g in tenant.settings.allowed_grant_types)
    document = provider_metadata(
        context.issuer(tenant),
        grants,
        tenant.settings.signing_alg,
        dpop_algorithms=context.dpop.advertised_algorithms,
        require_pushed_requests=tenant.settings.require_pushed_authorization_requests,
    )
    return json_response(document, max_age=300)


async def jwks(request: Request) -> Response:
    """``GET /jwks.json``: the tenant's next, active and retiring public keys (RFC 7517 §5)."""
    context, tenant = await tenant_of(request)
    return json_response(await context.keyring.jwks(tenant.id), max_age=60)
