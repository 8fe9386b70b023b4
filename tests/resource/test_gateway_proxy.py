"""The gateway between a caller and a real upstream Starlette app, both on loopback under uvicorn.

Spec: RFC 9110 §7.6.1 (hop-by-hop headers), RFC 6750 §3.1 (401/403), RFC 9700 §4.1 (bearer token leakage).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from livesupport import free_port, serve_in_thread
from pixie.resource import JWKSCache, JWTVerifier
from pixie.resource.gateway import Gateway, parse_route, required_scopes

Pixie = Any
AUDIENCE = "https://api.example"
CHUNK = b"0123456789abcdef" * 4096  # 64 KiB
CHUNKS = 160  # 10 MiB streamed through


async def echo(request: Request) -> Response:
    body = await request.body()
    headers = [[k, v] for k, v in request.headers.items()]
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": headers,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_length": len(body),
        },
        headers={
            "Connection": "close, X-Secret-Hop",
            "X-Secret-Hop": "1",
            "Keep-Alive": "timeout=5",
            "Proxy-Authenticate": "Basic",
            "X-End-To-End": "kept",
        },
    )


async def big(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(CHUNKS):
            yield CHUNK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def upload(request: Request) -> Response:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({"sha256": digest.hexdigest(), "size": size})


async def slow(request: Request) -> Response:
    await asyncio.sleep(3)
    return JSONResponse({"late": True})


async def broken(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first part, "
        raise RuntimeError("upstream fell over mid-response")

    return StreamingResponse(chunks(), media_type="text/plain")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/big", big),
            Route("/slow", slow),
            Route("/broken", broken),
            Route("/upload", upload, methods=["POST"]),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE", "HEAD"]),
        ]
    )
    with serve_in_thread(app, free_port()) as base:
        yield base


def make_gateway(pixie: Pixie, upstream: str, **kwargs: Any) -> Gateway:
    verifier = JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri))
    routes = [
        parse_route(r)
        for r in ("/api/properties=properties:read", "POST /api/properties=properties:write", "/api/admin=admin")
    ]
    return Gateway(upstream, verifier, routes=routes, public_paths=["/public"], **kwargs)


@pytest.fixture(scope="module")
def gateway(pixie: Pixie, upstream: str) -> Iterator[str]:
    with serve_in_thread(make_gateway(pixie, upstream), free_port()) as base:
        yield base


@pytest.fixture
def call(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=30) as client:
        yield client


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def echoed(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.text
    headers: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        headers.setdefault(name, []).append(value)
    return headers


def test_forwards_identity_and_strips_forged_pixie_headers(call: httpx.Client, pixie: Pixie) -> None:
    """The upstream learns who called from X-Pixie-* — and only from the gateway: the caller's own X-Pixie-*
    headers (any case) are gone, and the bearer token is not forwarded."""
    forged = [
        ("X-Pixie-Sub", "admin"),
        ("x-pixie-scope", "admin"),
        ("X-PIXIE-CLIENT-ID", "root"),
        ("X-Pixie-Anything", "1"),
    ]
    token = pixie.mint("reader")
    response = call.get("/api/properties/7?q=1", headers=[("Authorization", f"Bearer {token}"), *forged])
    headers = echoed(response)
    assert response.json()["path"] == "/api/properties/7" and response.json()["query"] == "q=1"
    assert headers["x-pixie-sub"] == ["reader"] and headers["x-pixie-client-id"] == ["reader"]
    assert headers["x-pixie-scope"] == ["properties:read"]
    assert "x-pixie-anything" not in headers
    assert "authorization" not in headers
    assert headers["x-forwarded-for"] == ["127.0.0.1"] and headers["x-forwarded-proto"] == ["http"]


def test_forward_authorization_flag_keeps_the_token(pixie: Pixie, upstream: str) -> None:
    with serve_in_thread(make_gateway(pixie, upstream, forward_authorization=True), free_port()) as base:
        token = pixie.mint("reader")
        response = httpx.get(f"{base}/api/properties", headers=bearer(token))
    assert echoed(response)["authorization"] == [f"Bearer {token}"]


def test_hop_by_hop_headers_dropped_both_ways(call: httpx.Client, pixie: Pixie) -> None:
    """RFC 9110 §7.6.1: Connection, the headers it names, Keep-Alive, TE, Trailer, Upgrade and Proxy-* do not
    cross the gateway in either direction; end-to-end headers do."""
    request_headers = {
        "Connection": "keep-alive, X-Caller-Hop",
        "X-Caller-Hop": "1",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Upgrade": "websocket",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-End-To-End": "kept",
    }
    response = call.get("/api/properties", headers=bearer(pixie.mint("reader"), **request_headers))
    upstream_saw = echoed(response)
    for name in ("x-caller-hop", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization"):
        assert name not in upstream_saw, name
    assert upstream_saw["x-end-to-end"] == ["kept"]
    for name in ("x-secret-hop", "keep-alive", "proxy-authenticate"):
        assert name not in response.headers, name
    assert response.headers["x-end-to-end"] == "kept"


@pytest.mark.parametrize(
    ("method", "path", "client_id", "status"),
    [
        ("GET", "/api/properties", "reader", 200),
        ("POST", "/api/properties", "reader", 403),
        ("POST", "/api/properties", "writer", 200),
        ("GET", "/api/admin/users", "writer", 403),
        ("GET", "/api/other", "reader", 200),  # no rule: any valid token
        ("GET", "/api/propertiesX", "reader", 200),  # prefixes match whole segments
    ],
)
def test_per_route_scopes(
    call: httpx.Client, pixie: Pixie, method: str, path: str, client_id: str, status: int
) -> None:
    """Longest prefix wins, a method rule beats a general one; 403 names the needed scope (RFC 6750 §3.1)."""
    response = call.request(method, path, headers=bearer(pixie.mint(client_id)))
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"] == "insufficient_scope"
        needed = required_scopes(make_gateway(pixie, "http://x").routes, method, path, ())
        assert f'scope="{" ".join(needed)}"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer junk"}], ids=["missing", "invalid"])
def test_no_valid_token_is_401(call: httpx.Client, headers: dict[str, str]) -> None:
    response = call.get("/api/properties", headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"


def test_public_paths_pass_without_identity(call: httpx.Client) -> None:
    headers = echoed(call.get("/public/info", headers={"X-Pixie-Sub": "admin"}))
    assert not any(name.startswith("x-pixie-") for name in headers)


@pytest.mark.parametrize("path", ["/public/../api/admin", "/public/%2e%2e/api/admin", "/public%2F..%2Fapi", "//api"])
def test_paths_that_could_escape_a_prefix_are_refused(call: httpx.Client, path: str) -> None:
    """The prefix the rules see must be the path the upstream serves: dot segments, encoded slashes and empty
    segments are refused, not normalised."""
    url = httpx.URL(str(call.base_url))
    with socket.create_connection((url.host, url.port or 80), timeout=10) as sock:  # exact bytes: no client
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.host}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:100]
    assert b'"invalid_request"' in reply


def test_streams_a_large_response_and_request(call: httpx.Client, pixie: Pixie) -> None:
    """Bodies are streamed both ways: 10 MiB down and 10 MiB up arrive intact."""
    token = pixie.mint("reader")
    digest, size = hashlib.sha256(), 0
    with call.stream("GET", "/big", headers=bearer(token)) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            digest.update(chunk)
            size += len(chunk)
    assert size == len(CHUNK) * CHUNKS
    assert digest.hexdigest() == hashlib.sha256(CHUNK * CHUNKS).hexdigest()

    def generate() -> Iterator[bytes]:  # no Content-Length: sent chunked by the caller
        for _ in range(CHUNKS):
            yield CHUNK

    uploaded = call.post("/upload", content=generate(), headers=bearer(token))
    assert uploaded.json() == {"sha256": hashlib.sha256(CHUNK * CHUNKS).hexdigest(), "size": len(CHUNK) * CHUNKS}
    sized = call.post("/upload", content=b"x" * 1000, headers=bearer(token))
    assert sized.json()["size"] == 1000


def test_upstream_down_is_502_without_detail(pixie: Pixie) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with serve_in_thread(make_gateway(pixie, dead), free_port()) as base:
        response = httpx.get(f"{base}/api/properties", headers=bearer(pixie.mint("reader")))
    assert response.status_code == 502
    assert response.json() == {"error": "bad_gateway", "error_description": "the upstream service is unavailable"}
    assert "127.0.0.1" not in response.text and "Connect" not in response.text


def test_upstream_timeout_is_502(pixie: Pixie, upstream: str) -> None:
    with serve_in_thread(make_gateway(pixie, upstream, timeout=httpx.Timeout(0.5)), free_port()) as base:
        response = httpx.get(f"{base}/slow", headers=bearer(pixie.mint("reader")), timeout=10)
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway" and "Timeout" not in response.text


def test_upstream_breaking_mid_response_is_not_passed_off_as_complete(call: httpx.Client, pixie: Pixie) -> None:
    """Once the status line is out a 502 is impossible; the gateway drops the connection instead, so the caller
    sees a broken response, never a short one that looks whole."""
    with pytest.raises(httpx.RemoteProtocolError):
        call.get("/broken", headers=bearer(pixie.mint("reader")))


def test_route_syntax() -> None:
    assert parse_route("POST /api=a b").method == "POST"
    assert parse_route("/api=").scopes == ()
    for bad in ("api=read", "/api", "GET PUT /api=x"):
        with pytest.raises(ValueError):
            parse_route(bad)
    assert json.dumps(required_scopes([parse_route("/a=x"), parse_route("/a/b=y")], "GET", "/a/b/c", ["z"])) == '["y"]'
