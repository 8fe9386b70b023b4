"""The FastAPI dependency ``require_scopes`` and its ``Annotated`` aliases, behind the middleware and alone.

Spec: RFC 6750 §3.1.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations, and the one chosen per
app is a local name.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from resource_support import AUDIENCE

from pixie.resource import AccessToken, BearerAuthMiddleware, JWKSCache, JWTVerifier
from pixie.resource.fastapi import Authenticated, install_error_handler, require_scopes

Pixie = Any

PropertiesReader = Annotated[AccessToken, Depends(require_scopes("properties:read"))]
PropertiesWriter = Annotated[AccessToken, Depends(require_scopes("properties:write"))]


def build(verifier: JWTVerifier | None, *, handler: bool = True) -> FastAPI:
    app = FastAPI()
    if handler:
        install_error_handler(app)
    reader: Any = PropertiesReader
    if verifier is not None:  # no middleware: the dependency verifies the header itself
        reader = Annotated[AccessToken, Depends(require_scopes("properties:read", verifier=verifier))]

    @app.get("/properties")
    async def list_properties(token: reader) -> dict[str, Any]:
        return {"client_id": token.client_id}

    @app.post("/properties")
    async def create_property(token: PropertiesWriter) -> dict[str, bool]:
        return {"created": True}

    @app.get("/me")
    async def me(token: Authenticated) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


@pytest.fixture
def verifier(pixie: Pixie, http: httpx.AsyncClient) -> JWTVerifier:
    return JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri, http=http))


@pytest.fixture
async def behind_middleware(verifier: JWTVerifier) -> AsyncIterator[httpx.AsyncClient]:
    app = build(None)
    app.add_middleware(BearerAuthMiddleware, verifier=verifier, realm="api")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_dependency_reads_the_middlewares_token(behind_middleware: httpx.AsyncClient, pixie: Pixie) -> None:
    response = await behind_middleware.get("/properties", headers=bearer(pixie.mint("reader")))
    assert response.json() == {"client_id": "reader"}
    assert (await behind_middleware.get("/me", headers=bearer(pixie.mint("reader")))).json() == {"sub": "reader"}


async def test_missing_scope_is_403_with_rfc6749_body(behind_middleware: httpx.AsyncClient, pixie: Pixie) -> None:
    """RFC 6750 §3.1: 403 ``insufficient_scope`` with ``scope`` in the challenge and the middleware's realm."""
    response = await behind_middleware.post("/properties", headers=bearer(pixie.mint("reader")))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    challenge = response.headers["www-authenticate"]
    assert 'realm="api"' in challenge and 'scope="properties:write"' in challenge
    assert response.headers["cache-control"] == "no-store"


async def test_without_middleware_the_dependency_verifies(verifier: JWTVerifier, pixie: Pixie) -> None:
    app = build(verifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as client:
        ok = await client.get("/properties", headers=bearer(pixie.mint("reader")))
        missing = await client.get("/properties")
        foreign = await client.get("/properties", headers=bearer(pixie.mint("elsewhere")))
    assert ok.json() == {"client_id": "reader"}
    for response in (missing, foreign):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_without_the_handler_status_and_challenge_still_hold(verifier: JWTVerifier, pixie: Pixie) -> None:
    """FastAPI's own HTTPException rendering keeps 401/403 and the challenge; only the body shape differs."""
    app = build(verifier, handler=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as client:
        response = await client.get("/properties")
    assert response.status_code == 401
    assert response.json() == {"detail": {"error": "invalid_token", "error_description": "a bearer token is required"}}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
