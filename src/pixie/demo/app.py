"""The demo's composition root: Pixie's authorization server, the Property API at ``/api`` and the SPA at ``/app``,
on one origin and one port.

The authorization server is :func:`pixie.server.app.create_app` unchanged, mounted last at ``/``; its lifespan
runs inside this app's lifespan, which also opens the demo's own store. The API answers CORS for the origins of the
demo tenant's public clients, so a browser app of your own (``http://localhost:5173``) can call it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pixie.config import Settings
from pixie.demo.api import create_api
from pixie.demo.api_doc import openapi_document
from pixie.demo.config import (
    API_AUDIENCE,
    API_PATH,
    APP_PATH,
    SCOPES,
    api_resource,
    demo_audit_log_path,
    demo_database_path,
)
from pixie.demo.spa import create_spa
from pixie.demo.store import open_store
from pixie.resource import BearerAuthMiddleware, JWTVerifier, ResourceMetadata, TokenVerifier
from pixie.resource.credentials import ResourceDPoP
from pixie.server.app import create_app, settings_from_env
from pixie.server.cors import CorsPolicy
from pixie.tenancy import DEFAULT_TENANT

__all__ = ["create_demo_app", "demo_app_from_env"]


class _ApiPrefix:
    """Pure ASGI: every path under ``/api`` goes to the (protected) API, and so do the paths of its RFC 9728
    metadata (``metadata``: at the host's root, where clients look for it); everything else to ``rest``.

    Starlette's ``Mount`` matches its prefix with ``.*``, which stops at a newline: a path such as
    ``/api/properties/a%0Ab`` would slip past the API to the authorization server's plain-text 404. A plain prefix
    test keeps the API's answers (JSON, bearer challenge) for every path it owns."""

    def __init__(self, api: ASGIApp, rest: ASGIApp, metadata: ResourceMetadata | None = None) -> None:
        self.api = api
        self.rest = rest
        self.metadata = metadata

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            route = path[len(root) :] if root and path.startswith(root) else path  # Starlette's get_route_path
            if route == API_PATH or route.startswith(API_PATH + "/"):
                # As Starlette's Mount does: the full path stays, root_path gains the prefix.
                scope = {**scope, "root_path": root + API_PATH}
                await self.api(scope, receive, send)
                return
            if self.metadata is not None and self.metadata.serves(route):
                await self.api(scope, receive, send)  # the middleware answers it
                return
        await self.rest(scope, receive, send)


def create_demo_app(settings: Settings, *, demo_database: Path, verifier: TokenVerifier | None = None) -> ASGIApp:
    """Everything ``pixie demo`` serves. ``verifier`` defaults to local JWT validation against the issuer's
    JWKS with either of the API's audiences: the SPA's :data:`API_AUDIENCE`, or its URL, which RFC 8707 clients
    ask for (RFC 9068 §4). The API publishes its RFC 9728 metadata (when its URL can be a resource identifier:
    https, or http on loopback)."""
    issuer = settings.issuer.rstrip("/")
    pixie = create_app(settings)
    api = create_api(openapi_document(issuer))
    own_verifier: JWTVerifier | None = None
    if verifier is None:
        verifier = own_verifier = JWTVerifier(issuer, audience=(API_AUDIENCE, api_resource(issuer)))
    try:
        metadata: ResourceMetadata | None = ResourceMetadata.of(
            api_resource(issuer), issuer, scopes_supported=SCOPES, resource_name="Pixie demo Property API"
        )
    except ValueError:  # served over plain http off loopback: no resource identifier RFC 9728 accepts
        metadata = None
    origins: list[CorsPolicy] = []  # set once the authorization server's storage is open (lifespan)

    async def registered_origin(origin: str) -> bool:
        """The rule the authorization server applies to its own endpoints, for the demo tenant's public clients:
        an app registered with ``pixie clients create`` while the demo runs may call the API within seconds."""
        return bool(origins) and await origins[0].allows_in(DEFAULT_TENANT, origin)

    # The API's description is public; everything else under /api needs a token.
    protected = BearerAuthMiddleware(
        api,
        verifier,
        realm="Pixie demo Property API",
        public_paths=[f"{API_PATH}/openapi.json"],
        cors_origins=registered_origin,
        dpop=ResourceDPoP(),  # DPoP-bound tokens with their proofs, besides Bearer tokens (RFC 9449 §7)
        metadata=metadata,
    )

    async def to_app(request: Request) -> Response:
        return RedirectResponse(f"{APP_PATH}/", status_code=307)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with pixie.router.lifespan_context(pixie), open_store(demo_database) as store:
            api.state.store = store
            origins.append(CorsPolicy(pixie.state.pixie.storage.clients, public_only=True))
            try:
                yield
            finally:
                if own_verifier is not None:
                    await own_verifier.aclose()

    rest = Starlette(
        routes=[
            Route("/", to_app, methods=["GET"]),
            Route(APP_PATH, to_app, methods=["GET"]),
            Mount(APP_PATH, app=create_spa(issuer)),
            Mount("/", app=pixie),
        ],
        lifespan=lifespan,
    )
    return _ApiPrefix(protected, rest, metadata)


def demo_app_from_env() -> ASGIApp:
    """Factory for ``uvicorn --factory`` (used by ``pixie demo``): settings from the environment, as
    :func:`pixie.server.app.app_from_env`; the demo's data beside the Pixie database."""
    settings = settings_from_env()
    audit = demo_audit_log_path(settings.database_url)
    if audit is not None:
        settings = dataclasses.replace(settings, audit_log=str(audit))
    return create_demo_app(settings, demo_database=demo_database_path(settings.database_url))
