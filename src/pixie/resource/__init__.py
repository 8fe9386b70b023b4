"""Protecting APIs with Pixie's access tokens: verifiers, an ASGI middleware, a Starlette scope decorator (and, in
:mod:`pixie.resource.fastapi`, a FastAPI dependency) and the ``pixie gateway`` reverse proxy.

::

    verifier = JWTVerifier("https://auth.example", "https://api.example")
    app = BearerAuthMiddleware(starlette_app, verifier, public_paths=["/health"])

    @requires_scopes("properties:read")
    async def list_properties(request: Request) -> Response: ...

Spec: RFC 9068 (JWT access tokens), RFC 7662 (introspection), RFC 6750 (bearer usage).
"""

from pixie.resource.introspection import IntrospectionVerifier
from pixie.resource.jwks_cache import JWKSCache
from pixie.resource.middleware import BearerAuthMiddleware, requires_scopes
from pixie.resource.verifier import AccessToken, JWTVerifier, TokenVerifier

__all__ = [
    "AccessToken",
    "BearerAuthMiddleware",
    "IntrospectionVerifier",
    "JWKSCache",
    "JWTVerifier",
    "TokenVerifier",
    "requires_scopes",
]
