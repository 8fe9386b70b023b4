"""The indexed router answers every request exactly as Starlette's own route loop does."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from pixie.config import Settings
from pixie.server.app import create_app
from pixie.server.routing import IndexedRouter


def _named(name: str) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{name} {sorted(request.path_params.items())}")

    return endpoint


def _routes() -> list[BaseRoute]:
    return [
        Route("/items/{name}", _named("pattern-first"), methods=["GET"]),  # shadows the constant /items/special
        Route("/items/special", _named("constant-shadowed"), methods=["GET"]),
        Route("/token", _named("token-post"), methods=["POST"]),
        Route("/token", _named("token-get"), methods=["GET"]),  # same path, another method: the second route
        Route("/only-post", _named("only-post"), methods=["POST"]),
        Mount("/t/{tenant}", routes=[Route("/token", _named("tenant-token"), methods=["POST"])]),
        Route("/t/acme/token", _named("after-the-mount"), methods=["POST"]),  # the mount claims it first
    ]


REQUESTS = [
    ("GET", "/items/special"),
    ("GET", "/items/other"),
    ("POST", "/token"),
    ("GET", "/token"),
    ("PUT", "/token"),
    ("GET", "/only-post"),
    ("POST", "/only-post"),
    ("POST", "/t/acme/token"),
    ("POST", "/token/"),
    ("GET", "/nowhere"),
]


async def _answers(router: Router) -> list[tuple[int, str]]:
    transport = httpx.ASGITransport(app=router)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [((r := await client.request(m, p)).status_code, r.text) for m, p in REQUESTS]


async def test_same_answers_as_starlette_for_every_kind_of_path() -> None:
    indexed, plain = IndexedRouter(_routes(), redirect_slashes=False), Router(_routes(), redirect_slashes=False)
    assert await _answers(indexed) == await _answers(plain)
    assert set(indexed.index) == {"/token", "/only-post"}  # shadowed and mounted paths stay with the loop


async def test_the_index_is_used() -> None:
    router = IndexedRouter(_routes(), redirect_slashes=False)
    router.routes.clear()  # only the index can answer now
    transport = httpx.ASGITransport(app=router)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/token")).text == "token-post []"
        assert (await client.get("/token")).status_code == 404  # not a full match: the (empty) loop decides


@pytest.mark.parametrize("path", ["/token", "/authorize", "/jwks.json", "/.well-known/oauth-authorization-server"])
def test_pixie_hot_paths_are_indexed(path: str) -> None:
    router = create_app(Settings()).router
    assert isinstance(router, IndexedRouter)
    assert path in router.index
