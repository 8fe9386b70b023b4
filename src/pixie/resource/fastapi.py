"""FastAPI integration (optional extra ``pixie-oauth[fastapi]``): a dependency that demands scopes.

::

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from pixie.resource import AccessToken, BearerAuthMiddleware, JWTVerifier
    from pixie.resource.fastapi import install_cors, install_error_handler, require_scopes

    verifier = JWTVerifier("https://auth.example", "https://api.example")
    PropertiesReader = Annotated[AccessToken, Depends(require_scopes("properties:read"))]
    PropertiesWriter = Annotated[AccessToken, Depends(require_scopes("properties:write"))]

    app = FastAPI()
    install_error_handler(app)                         # RFC 6749 §5.2 JSON bodies instead of {"detail": ...}
    app.add_middleware(BearerAuthMiddleware, verifier=verifier)
    install_cors(app, ["https://app.example"])         # browser apps there may call it (added after the above)

    @app.get("/properties")
    async def list_properties(token: PropertiesReader) -> list[dict[str, str]]: ...

With :class:`~pixie.resource.middleware.BearerAuthMiddleware` installed the dependency reads ``scope["auth"]``;
without it, pass ``verifier=`` and the dependency checks the ``Authorization`` header itself. A missing or bad
token is 401 with ``WWW-Authenticate: Bearer … error="invalid_token"``; a missing scope is 403
``insufficient_scope`` naming the needed ``scope`` (RFC 6750 §3.1). The status and challenge are right with or
without :func:`install_error_handler`; the handler only gives the body the RFC 6749 §5.2 shape.

For RFC 9728, :func:`install_resource_metadata` serves the API's metadata document, and ``metadata=`` on
:func:`require_scopes` names it in the challenges (the middleware's ``metadata=`` does both when it is in front)::

    metadata = ResourceMetadata.of("https://api.example", "https://auth.example", scopes_supported=["properties:read"])
    install_resource_metadata(app, metadata)
    PropertiesReader = Annotated[AccessToken, Depends(require_scopes("properties:read", verifier=verifier,
                                                                     metadata=metadata))]

This is the only module that imports FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response

from pixie.errors import OAuthError
from pixie.resource.cors import AllowedOrigins, CorsMiddleware
from pixie.resource.credentials import ResourceDPoP, authenticate, request_credentials
from pixie.resource.metadata import WELL_KNOWN, ResourceMetadata
from pixie.resource.middleware import (
    DPOP_ALGS_KEY,
    REALM_KEY,
    RESOURCE_METADATA_KEY,
    dpop_challenge,
    render_error,
    scope_error,
)
from pixie.resource.verifier import AccessToken, TokenVerifier

__all__ = [
    "Authenticated",
    "BearerHTTPException",
    "install_cors",
    "install_error_handler",
    "install_resource_metadata",
    "oauth_error_handler",
    "require_scopes",
]


class BearerHTTPException(HTTPException):
    """An :class:`HTTPException` carrying the OAuth error, its status and its ``WWW-Authenticate`` challenge."""

    def __init__(
        self,
        error: OAuthError,
        *,
        realm: str,
        scope: str | None,
        dpop_algs: Sequence[str] | None = None,
        resource_metadata: str | None = None,
    ) -> None:
        rendered = render_error(
            error, realm=realm, scope=scope, dpop_algs=dpop_algs, resource_metadata=resource_metadata
        )
        super().__init__(status_code=rendered.status, detail=error.as_dict(), headers=rendered.headers)
        self.oauth_error = error
        self.body = rendered.body


def require_scopes(
    *scopes: str,
    verifier: TokenVerifier | None = None,
    realm: str = "pixie",
    dpop: ResourceDPoP | None = None,
    metadata: ResourceMetadata | None = None,
) -> Callable[[Request], Awaitable[AccessToken]]:
    """A dependency returning the request's verified :class:`AccessToken` if it carries every scope in ``scopes``.
    Without the middleware, ``verifier`` checks the token here, and ``dpop`` accepts DPoP-bound tokens.
    ``metadata`` names the resource's RFC 9728 document in the challenges (the middleware's, when it ran, wins).

    Spec: RFC 6750 §2.1, §3.1; RFC 9449 §7; RFC 9728 §5.1.
    """
    needed = tuple(scopes)
    joined = " ".join(needed)

    async def dependency(request: Request) -> AccessToken:
        scope = request.scope
        used_realm = str(scope.get(REALM_KEY, realm))
        if metadata is not None:
            scope.setdefault(RESOURCE_METADATA_KEY, metadata.url)
        try:
            if "auth" in scope:
                auth = scope["auth"]  # the middleware ran (None on its public paths)
            elif verifier is not None:
                if dpop is not None:
                    scope[DPOP_ALGS_KEY] = dpop.algorithms
                present = request_credentials(scope["headers"]) is not None
                auth = await authenticate(scope, verifier, dpop) if present else None
                scope["auth"] = auth
            else:
                raise RuntimeError("require_scopes needs BearerAuthMiddleware or a verifier= argument")
            error = scope_error(auth, needed)
            if error is not None:
                raise error
        except OAuthError as exc:
            algs = dpop_challenge(scope, exc)
            metadata_url = scope.get(RESOURCE_METADATA_KEY)
            raise BearerHTTPException(
                exc, realm=used_realm, scope=joined, dpop_algs=algs, resource_metadata=metadata_url
            ) from None
        assert isinstance(auth, AccessToken)
        return auth

    return dependency


Authenticated = Annotated[AccessToken, Depends(require_scopes())]
"""Any valid token, whatever its scopes (needs :class:`BearerAuthMiddleware` in front)."""


async def oauth_error_handler(request: Request, exc: Exception) -> Response:
    """Render a :class:`BearerHTTPException` as the RFC 6749 §5.2 JSON error with its challenge."""
    if not isinstance(exc, BearerHTTPException):  # registered for that class only; kept honest for mypy
        raise exc
    return Response(exc.body, status_code=exc.status_code, headers=exc.headers)


def install_error_handler(app: FastAPI) -> None:
    """Make ``app`` answer token errors with the RFC 6749 §5.2 body (``{"error": …}``) instead of FastAPI's
    ``{"detail": …}``."""
    app.add_exception_handler(BearerHTTPException, oauth_error_handler)


def install_cors(app: FastAPI, origins: AllowedOrigins, *, expose_headers: Sequence[str] = ()) -> None:
    """Let browser apps on ``origins`` call ``app`` (a list such as ``["https://app.example"]``, or an async check
    of the ``Origin`` header): preflights are answered before any dependency runs (a preflight carries no token and
    would otherwise get 401 or 405), and every response, token errors included, is readable by those origins, with
    ``WWW-Authenticate`` exposed. Call it after ``app.add_middleware(BearerAuthMiddleware, …)`` (the middleware
    added last runs first), or give that middleware ``cors_origins=`` instead.

    Spec: Fetch Standard §3.2.
    """
    app.add_middleware(CorsMiddleware, allowed_origins=origins, expose_headers=expose_headers)


def install_resource_metadata(app: FastAPI, metadata: ResourceMetadata) -> None:
    """Serve ``metadata`` (RFC 9728) at its well-known path, and at the host's plain well-known path for a resource
    at a path, without a token and outside the OpenAPI schema.

    Spec: RFC 9728 §3, §3.1.
    """

    async def document(request: Request) -> Response:
        rendered = metadata.render(request.method)
        return Response(rendered.body, status_code=rendered.status, headers=rendered.headers)

    for path in dict.fromkeys((metadata.path, WELL_KNOWN)):
        app.add_api_route(path, document, methods=["GET", "HEAD"], include_in_schema=False)
