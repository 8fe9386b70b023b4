"""The indexed router answers every request exactly as Starlette's own route loop does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from pixie.config import Settings
from pixie.server.app import create_app
from pixie.server.routing import Endpoint, IndexedRouter


def _named(name: str) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{name} {sorted(request.path_params.items())}")

    return endpoint


def _async_named(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(
            f"{name} {sorted(request.path_params.items())} {request.scope['endpoint'] is endpoint}"
        )

    return endpoint


def _routes(kind: type[Route] = Route, named: Callable[[str], Any] = _named) -> list[BaseRoute]:
    return [
        kind("/items/{name}", named("pattern-first"), methods=["GET"]),  # shadows the constant /items/special
        kind("/items/special", named("constant-shadowed"), methods=["GET"]),
        kind("/token", named("token-post"), methods=["POST"]),
        kind("/token", named("token-get"), methods=["GET"]),  # same path, another method: the second route
        kind("/only-post", named("only-post"), methods=["POST"]),
        Mount("/t/{tenant}", routes=[kind("/token", named("tenant-token"), methods=["POST"])]),
        kind("/t/acme/token", named("after-the-mount"), methods=["POST"]),  # the mount claims it first
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


async def test_endpoints_answer_as_starlette_function_routes() -> None:
    """An :class:`Endpoint` skips Starlette's per-request wrapping; what it answers, path parameters and the scope's
    endpoint included, is unchanged, through the index and through the loop."""
    plain = Router(_routes(Route, _async_named), redirect_slashes=False)
    direct = IndexedRouter(_routes(Endpoint, _async_named), redirect_slashes=False)  # type: ignore[arg-type]
    answers = await _answers(direct)
    assert answers == await _answers(plain)
    assert (200, "pattern-first [('name', 'other')] True") in answers and (200, "token-post [] True") in answers


async def test_an_endpoint_raises_what_its_handler_raised() -> None:
    """Nothing between the router and the handler turns an exception into a response: the error guard sees it."""

    async def broken(request: Request) -> Response:
        raise LookupError("from the handler")

    transport = httpx.ASGITransport(app=IndexedRouter([Endpoint("/broken", broken, methods=["GET"])]))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(LookupError, match="from the handler"):
            await client.get("/broken")


def test_an_endpoint_must_be_async() -> None:
    with pytest.raises(TypeError, match="async"):
        Endpoint("/sync", _named("sync"), methods=["GET"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [
        ("GET", "/token", 405, "Method Not Allowed"),
        ("GET", "/nowhere", 404, "Not Found"),
        ("DELETE", "/t/acme/introspect", 405, "Method Not Allowed"),
        ("GET", "/static/none.css", 404, "Not Found"),
    ],
)
def test_the_server_renders_routing_statuses_itself(
    live_server: str, method: str, path: str, status: int, text: str
) -> None:
    """The server has no layer but its error guard around the router: a path no route has and a method the route
    does not take are still the plain statuses Starlette gives them, with the browser-hardening headers, and
    counted by the metrics under their status."""
    response = httpx.request(method, live_server + path)
    assert (response.status_code, response.text) == (status, text)
    assert response.headers["x-content-type-options"] == "nosniff"
    if status == 405:
        assert "POST" in response.headers["allow"]
    counted = [
        sample.value
        for family in text_string_to_metric_families(httpx.get(live_server + "/metrics").text)
        for sample in family.samples
        if sample.name == "pixie_http_requests_total"
        and (sample.labels.get("method"), sample.labels.get("status")) == (method, str(status))
    ]
    assert counted == [1.0]
