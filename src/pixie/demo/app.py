"""The demo's composition root: Pixie's authorization server, the Property API at ``/api`` and the SPA at ``/app``,
on one origin and one port.

The authorization server is :func:`pixie.server.app.create_app` unchanged, mounted last at ``/``; its lifespan
runs inside this app's lifespan, which also opens the demo's own store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from pixie.config import Settings
from pixie.demo.api import create_api, json_body
from pixie.demo.config import API_AUDIENCE, API_PATH, APP_PATH, demo_database_path
from pixie.demo.openapi import openapi_document
from pixie.demo.spa import create_spa
from pixie.demo.store import open_store
from pixie.resource import BearerAuthMiddleware, JWTVerifier, TokenVerifier
from pixie.server.app import create_app

__all__ = ["create_demo_app", "demo_app_from_env"]


def create_demo_app(settings: Settings, *, demo_database: Path, verifier: TokenVerifier | None = None) -> Starlette:
    """Everything ``pixie demo`` serves. ``verifier`` defaults to local JWT validation against the issuer's
    JWKS with the API's audience (RFC 9068 §4)."""
    issuer = settings.issuer.rstrip("/")
    pixie = create_app(settings)
    api = create_api()
    own_verifier: JWTVerifier | None = None
    if verifier is None:
        verifier = own_verifier = JWTVerifier(issuer, audience=API_AUDIENCE)
    protected = BearerAuthMiddleware(api, verifier, realm="Pixie demo Property API")
    document = openapi_document(issuer)

    async def openapi(request: Request) -> Response:
        return json_body(document)

    async def to_app(request: Request) -> Response:
        return RedirectResponse(f"{APP_PATH}/", status_code=307)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with pixie.router.lifespan_context(pixie), open_store(demo_database) as store:
            api.state.store = store
            try:
                yield
            finally:
                if own_verifier is not None:
                    await own_verifier.aclose()

    return Starlette(
        routes=[
            Route("/", to_app, methods=["GET"]),
            Route(APP_PATH, to_app, methods=["GET"]),
            Mount(APP_PATH, app=create_spa(issuer)),
            # The document is public: served beside the protected mount, not through it.
            Route(f"{API_PATH}/openapi.json", openapi, methods=["GET"]),
            Mount(API_PATH, app=protected),
            Mount("/", app=pixie),
        ],
        lifespan=lifespan,
    )


def demo_app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` (used by ``pixie demo``): settings from the environment, as
    :func:`pixie.server.app.app_from_env`; the demo's data beside the Pixie database."""
    settings = Settings.from_env()
    return create_demo_app(settings, demo_database=demo_database_path(settings.database_url))
