"""CORS for the endpoints a browser app calls directly: ``/token``, ``/jwks.json`` and the metadata.

Allowed origins are derived from the registered redirect URIs of the tenant's clients (an SPA's redirect URI is on
its own origin), cached briefly. ``/authorize`` and the HTML pages never get CORS headers: they are navigated to,
not fetched.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import OAuthError
from pixie.server.protocol.redirect_uris import origin_of
from pixie.server.rendering import render_error
from pixie.storage.interfaces import ClientStore
from pixie.storage.records import Tenant
from pixie.types import TenantId

__all__ = ["CorsPolicy", "with_cors"]

Handler = Callable[[Request], Awaitable[Response]]


class CorsPolicy:
    def __init__(self, clients: ClientStore, *, ttl: float = 30.0) -> None:
        self._clients = clients
        self._ttl = ttl
        self._cache: dict[TenantId, tuple[float, frozenset[str]]] = {}

    async def allows(self, tenant: Tenant, origin: str) -> bool:
        now = time.monotonic()
        cached = self._cache.get(tenant.id)
        if cached is None or cached[0] <= now:
            origins = frozenset(
                o
                for client in await self._clients.list(tenant.id)
                if not client.disabled
                for uri in client.redirect_uris
                if (o := origin_of(uri)) is not None
            )
            cached = (now + self._ttl, origins)
            self._cache[tenant.id] = cached
        return origin.lower() in cached[1]


def with_cors(handler: Handler, *, methods: str) -> Handler:
    """Answer preflights and add ``Access-Control-Allow-Origin`` for allowed origins (never ``*``, never
    credentials: these endpoints use no cookies)."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        from pixie.server.context import tenant_of

        origin = request.headers.get("origin")
        allowed = False
        if origin:
            ctx, tenant = await tenant_of(request)
            allowed = await ctx.cors.allows(tenant, origin)
        if request.method == "OPTIONS":
            response = Response(status_code=204)
            if allowed and origin:
                response.headers.update(
                    {
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": methods,
                        "Access-Control-Allow-Headers": "Authorization, Content-Type, DPoP",
                        "Access-Control-Max-Age": "600",
                    }
                )
            response.headers["Vary"] = "Origin"
            return response
        try:
            response = await handler(request)
        except OAuthError as exc:
            # Rendered here, not by the outer error guard, so a browser app can read the error (RFC 6749 §5.2).
            response = render_error(exc)
        if allowed and origin:
            response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        return response

    return wrapped
