"""Discovery: authorization-server metadata (RFC 8414) and the JWK set (RFC 7517)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pixie.resource.dpop import DEFAULT_ALGORITHMS as DPOP_ALGORITHMS
from pixie.server.context import tenant_of
from pixie.server.grants import IMPLEMENTED_GRANTS
from pixie.server.rendering import json_response

__all__ = ["jwks", "metadata", "metadata_document"]


def metadata_document(
    issuer: str, grant_types: tuple[str, ...], dpop_algorithms: Sequence[str] = DPOP_ALGORITHMS
) -> dict[str, Any]:
    """The RFC 8414 §2 document for one issuer, advertising exactly Pixie's capabilities.

    Spec: RFC 8414 §2, §3; RFC 9207 §3 (``authorization_response_iss_parameter_supported``); RFC 7636 §4.3;
    RFC 9449 §5.1 (``dpop_signing_alg_values_supported``).
    """
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(grant_types),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": True,
        "dpop_signing_alg_values_supported": list(dpop_algorithms),
    }


async def metadata(request: Request) -> Response:
    """``GET /.well-known/oauth-authorization-server`` (and ``…/t/{tenant}``, the RFC 8414 §3.1 path-inserted form)."""
    context, tenant = await tenant_of(request)
    grants = tuple(g for g in IMPLEMENTED_GRANTS if g in tenant.settings.allowed_grant_types)
    document = metadata_document(context.issuer(tenant), grants, context.dpop.advertised_algorithms)
    return json_response(document, max_age=300)


async def jwks(request: Request) -> Response:
    """``GET /jwks.json``: the tenant's next, active and retiring public keys (RFC 7517 §5)."""
    context, tenant = await tenant_of(request)
    return json_response(await context.keyring.jwks(tenant.id), max_age=60)
