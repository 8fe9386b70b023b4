"""BearerAuthMiddleware and @requires_scopes on a small inline Starlette app, with tokens from the real Pixie.

Spec: RFC 6750 §2.1 (Authorization header), §3 (WWW-Authenticate), §3.1 (error codes and statuses).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from resource_support import AUDIENCE
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from pixie.errors import OAuthError
from pixie.resource import BearerAuthMiddleware, JWKSCache, JWTVerifier, requires_scopes

Pixie = Any


@requires_scopes("properties:read")
async def list_properties(request: Request) -> Response:
    return JSONResponse({"sub": request.auth.subject, "scopes": sorted(request.auth.scopes)})


@requires_scopes("properties:write")
async def create_property(request: Request) -> Response:
    return JSONResponse({"created": True}, status_code=201)


async def whoami(request: Request) -> Response:
    auth = request.scope["auth"]
    return JSONResponse({"client_id": auth.client_id if auth else None})


def build_app(started: list[str]) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append("up")
        yield

    return Starlette(
        routes=[
            Route("/properties", list_properties, methods=["GET"]),
            Route("/properties", create_property, methods=["POST"]),
            Route("/public/hello", whoami),
            Route("/publicity", whoami),
            Route("/me", whoami),
        ],
        lifespan=lifespan,
    )


@pytest.fixture
async def client(pixie: Pixie, http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    verifier = JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri, http=http))
    app = BearerAuthMiddleware(build_app([]), verifier, realm="properties", public_paths=["/public"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as c:
        yield c


def challenge(response: httpx.Response) -> dict[str, str]:
    """The auth-params of a ``WWW-Authenticate: Bearer`` challenge."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def assert_bearer_error(response: httpx.Response, status: int, error: str) -> dict[str, str]:
    """RFC 6750 §3: status, challenge with realm and error, JSON body with the same error, never cached."""
    assert response.status_code == status, response.text
    params = challenge(response)
    assert params["realm"] == "properties" and params["error"] == error
    assert response.json()["error"] == error
    assert params["error_description"] == response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"
    return params


async def test_valid_token_reaches_the_endpoint(client: httpx.AsyncClient, pixie: Pixie) -> None:
    """RFC 6750 §2.1: the verified token is in ``scope["auth"]`` (``request.auth``)."""
    token = pixie.mint("reader")
    response = await client.get("/properties", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"sub": "reader", "scopes": ["properties:read"]}
    lower = await client.get("/me", headers={"authorization": f"bearer {token}"})  # the scheme is case-insensitive
    assert lower.json() == {"client_id": "reader"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Basic d3JpdGVyOnNlY3JldA=="}, id="other-scheme"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage-token"),
        pytest.param({"Authorization": "Bearer a b"}, id="two-tokens"),
        pytest.param({"Authorization": "Bearer "}, id="empty-token"),
    ],
)
async def test_missing_or_bad_token_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """RFC 6750 §3.1: ``invalid_token`` with 401 (issue 6: also when no token was sent)."""
    assert_bearer_error(await client.get("/properties", headers=headers), 401, "invalid_token")


async def test_expired_or_foreign_token_is_401(client: httpx.AsyncClient, pixie: Pixie) -> None:
    response = await client.get("/me", headers={"Authorization": f"Bearer {pixie.mint('elsewhere')}"})
    params = assert_bearer_error(response, 401, "invalid_token")
    assert "audience" in params["error_description"]


async def test_two_authorization_headers_are_400(client: httpx.AsyncClient, pixie: Pixie) -> None:
    """RFC 6750 §3.1: a malformed request (here, two credentials) is ``invalid_request`` 400."""
    token = pixie.mint()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    assert_bearer_error(await client.get("/me", headers=headers), 400, "invalid_request")


async def test_missing_scope_is_403_with_the_needed_scope(client: httpx.AsyncClient, pixie: Pixie) -> None:
    """RFC 6750 §3.1: ``insufficient_scope``, 403, and ``scope`` names what the request needs."""
    response = await client.post("/properties", headers={"Authorization": f"Bearer {pixie.mint('reader')}"})
    assert assert_bearer_error(response, 403, "insufficient_scope")["scope"] == "properties:write"
    allowed = await client.post("/properties", headers={"Authorization": f"Bearer {pixie.mint('writer')}"})
    assert allowed.status_code == 201


async def test_public_paths_need_no_token_and_match_whole_segments(client: httpx.AsyncClient) -> None:
    assert (await client.get("/public/hello")).json() == {"client_id": None}
    assert (await client.get("/publicity")).status_code == 401  # "/public" does not cover "/publicity"


async def test_requires_scopes_without_the_middleware_is_401() -> None:
    """The decorator alone (middleware forgotten) fails closed: no ``scope["auth"]`` means 401."""
    app = Starlette(routes=[Route("/properties", list_properties)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as c:
        response = await c.get("/properties")
    assert response.status_code == 401 and challenge(response)["error"] == "invalid_token"


async def test_lifespan_passes_through(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """Non-HTTP scopes are not touched: the app's lifespan runs behind the middleware."""
    started: list[str] = []
    verifier = JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri, http=http))
    app = BearerAuthMiddleware(build_app(started), verifier)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)  # type: ignore[arg-type]
    assert started == ["up"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_on_error_hook_renders_failures(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """The injectable ``on_error`` turns the OAuth error into any ASGI response."""
    seen: list[str] = []

    def on_error(error: OAuthError) -> ASGIApp:
        seen.append(error.error)
        return PlainTextResponse(f"nope: {error.error}", status_code=error.status)

    verifier = JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri, http=http))
    app = BearerAuthMiddleware(build_app([]), verifier, on_error=on_error)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as c:
        response = await c.get("/me")
    assert (response.status_code, response.text, seen) == (401, "nope: invalid_token", ["invalid_token"])


async def test_websocket_handshake_without_token_is_closed(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """A websocket behind the middleware is checked too: without a token the handshake is refused (1008)."""
    verifier = JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri, http=http))
    reached: list[bool] = []

    async def inner(scope: Any, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        reached.append(True)

    app = BearerAuthMiddleware(inner, verifier)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, str]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "asgi": {"version": "3.0"}}
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1008}] and not reached
