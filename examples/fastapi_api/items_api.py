"""A small FastAPI API protected by Pixie's access tokens (see ``test_items_api.py`` for its tests, which run it
against a real Pixie through the ``pixie_server`` fixture of :mod:`pixie.testing`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI

from pixie.resource import AccessToken, BearerAuthMiddleware, JWTVerifier
from pixie.resource.fastapi import install_error_handler, require_scopes

AUDIENCE = "https://items.example"

ItemsReader = Annotated[AccessToken, Depends(require_scopes("items:read"))]
ItemsWriter = Annotated[AccessToken, Depends(require_scopes("items:write"))]


def create_app(issuer: str, audience: str = AUDIENCE) -> FastAPI:
    """The API, trusting tokens from ``issuer`` that name ``audience`` in ``aud``."""
    verifier = JWTVerifier(issuer, audience)  # finds the issuer's keys through its RFC 8414 metadata

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await verifier.aclose()  # the key cache's HTTP client

    app = FastAPI(lifespan=lifespan)
    install_error_handler(app)  # RFC 6749 §5.2 error bodies
    app.add_middleware(BearerAuthMiddleware, verifier=verifier)
    items: dict[str, list[str]] = {}

    @app.get("/items")
    async def list_items(token: ItemsReader) -> dict[str, object]:
        return {"owner": token.subject, "items": items.get(token.subject or "", [])}

    @app.post("/items")
    async def add_item(token: ItemsWriter, name: str) -> dict[str, object]:
        items.setdefault(token.subject or "", []).append(name)
        return {"owner": token.subject, "added": name}

    return app
