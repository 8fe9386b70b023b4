"""CORS for the endpoints a browser app calls directly: ``/token``, ``/jwks.json`` and the metadata.

Allowed origins are derived from the registered redirect URIs of the tenant's clients (an SPA's redirect URI is on
its own origin), cached briefly. ``/authorize`` and the HTML pages never get CORS headers: they are navigated to,
not fetched.
"""

from __future__ import annotations

import asyncio
import time
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import OAuthError
from pixie.server.protocol.redirect_uris import origin_of
from pixie.server.rendering import render_error
from pixie.server.routing import Handler
from pixie.storage.interfaces import ClientStore
from pixie.storage.records import Tenant
from pixie.types import TenantId

__all__ = ["CorsPolicy", "with_cors"]


class CorsPolicy:
    """Which origins may call a tenant's endpoints from a script: those of its clients' redirect URIs (only of its
    public clients with ``public_only``), disabled clients left out.

    The set is kept ``ttl`` seconds. An origin not in it reloads it when it is older than ``recheck`` seconds, so a
    client registered while the server runs (by the CLI, another instance) is allowed within ``recheck`` seconds,
    while origins that are never allowed cost at most one query per tenant per ``recheck``.

    Spec: Fetch Standard §3.2.
    """

    def __init__(
        self, clients: ClientStore, *, ttl: float = 30.0, recheck: float = 2.0, public_only: bool = False
    ) -> None:
        self._clients = clients
        self._ttl = ttl
        self._recheck = recheck
        self._public_only = public_only
        self._cache: dict[TenantId, tuple[float, frozenset[str]]] = {}
        """Per tenant: when the set was loaded (monotonic seconds), and the set."""
        self._loading: dict[TenantId, asyncio.Future[frozenset[str]]] = {}

    async def allows(self, tenant: Tenant, origin: str) -> bool:
        return await self.allows_in(tenant.id, origin)

    async def allows_in(self, tenant_id: TenantId, origin: str) -> bool:
        """Whether ``origin`` (an ``Origin`` header's value) is the origin of one of the tenant's clients."""
        origin = origin.lower()
        now = time.monotonic()
        cached = self._cache.get(tenant_id)
        if (
            cached is not None
            and now - cached[0] < self._ttl
            and (origin in cached[1] or now - cached[0] < self._recheck)
        ):
            return origin in cached[1]
        loading = self._loading.get(tenant_id)
        if loading is None:  # one query for every request that finds the set stale at the same time
            loading = self._loading[tenant_id] = asyncio.ensure_future(self._load(tenant_id, now))
            loading.add_done_callback(lambda _: self._loading.pop(tenant_id, None))
        return origin in await asyncio.shield(loading)

    async def _load(self, tenant_id: TenantId, now: float) -> frozenset[str]:
        origins = frozenset(
            o
            for client in await self._clients.list(tenant_id)
            if not client.disabled and (client.client_type == "public" or not self._public_only)
            for uri in client.redirect_uris
            if (o := origin_of(uri)) is not None
        )
        self._cache[tenant_id] = (now, origins)
        return origins


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
            # A browser client reads the server's DPoP nonce from here to retry once (RFC 9449 §8).
            response.headers["Access-Control-Expose-Headers"] = "DPoP-Nonce"
        response.headers["Vary"] = "Origin"
        return response

    return wrapped
