"""Protecting APIs with Pixie's access tokens: verifiers, an ASGI middleware, a Starlette scope decorator (and, in
:mod:`pixie.resource.fastapi`, a FastAPI dependency) and the ``pixie gateway`` reverse proxy.

::

    verifier = JWTVerifier("https://auth.example", "https://api.example")
    app = BearerAuthMiddleware(
        starlette_app, verifier, public_paths=["/health"], cors_origins=["https://app.example"]
    )

    @requires_scopes("properties:read")
    async def list_properties(request: Request) -> Response: ...

    # RFC 9728: serve the API's metadata and name it in every 401/403
    metadata = ResourceMetadata.of("https://api.example", "https://auth.example", scopes_supported=["properties:read"])
    app = BearerAuthMiddleware(starlette_app, verifier, metadata=metadata)

Spec: RFC 9068 (JWT access tokens), RFC 7662 (introspection), RFC 6750 (bearer usage), RFC 9728 (metadata).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixie.lazy import lazy_exports as _lazy_exports

__all__ = [
    "AccessToken",
    "BearerAuthMiddleware",
    "CorsMiddleware",
    "IntrospectionVerifier",
    "JWKSCache",
    "JWTVerifier",
    "ResourceMetadata",
    "TokenVerifier",
    "requires_scopes",
]

if TYPE_CHECKING:
    from pixie.resource.cors import CorsMiddleware
    from pixie.resource.introspection import IntrospectionVerifier
    from pixie.resource.jwks_cache import JWKSCache
    from pixie.resource.metadata import ResourceMetadata
    from pixie.resource.middleware import BearerAuthMiddleware, requires_scopes
    from pixie.resource.verifier import AccessToken, JWTVerifier, TokenVerifier
else:
    # Each name is imported from its module on first use (PEP 562), so that importing one module of this package (say
    # the sans-I/O protocol) never loads the others' dependencies. Type checkers read the imports above instead, and
    # so still reject a name this package does not export.
    _SOURCES = {
        "AccessToken": "pixie.resource.verifier",
        "BearerAuthMiddleware": "pixie.resource.middleware",
        "CorsMiddleware": "pixie.resource.cors",
        "IntrospectionVerifier": "pixie.resource.introspection",
        "JWKSCache": "pixie.resource.jwks_cache",
        "JWTVerifier": "pixie.resource.verifier",
        "ResourceMetadata": "pixie.resource.metadata",
        "TokenVerifier": "pixie.resource.verifier",
        "requires_scopes": "pixie.resource.middleware",
    }

    __getattr__, __dir__ = _lazy_exports(__name__, _SOURCES, globals(), __all__)
