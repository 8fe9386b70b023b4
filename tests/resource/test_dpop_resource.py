"""ARCHITECTURE §6.9 at resource servers: DPoP-bound tokens from the real Pixie, presented with proofs to the
middleware, the FastAPI dependency and the gateway, each served on loopback; stolen tokens, replayed, re-targeted
and foreign proofs, and downgrades to Bearer are refused with the right challenge. Two gateway instances that share
a Redis replay window refuse a proof replayed from one to the other.

Spec: RFC 9449 §4.3, §7.1 (``WWW-Authenticate: DPoP``), §7.2 (no downgrade), §11.1 (replay), §6.1 (``cnf``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from resource_support import AUDIENCE, SECRETS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livesupport import free_port, serve_in_thread
from pixie.client.dpop import DPoPKey
from pixie.resource import AccessToken, BearerAuthMiddleware, JWKSCache, JWTVerifier, requires_scopes
from pixie.resource.credentials import MemoryReplayCache, ResourceDPoP, request_url
from pixie.resource.dpop_redis import RedisReplayCache
from pixie.resource.fastapi import install_error_handler, require_scopes
from pixie.resource.gateway import Gateway

Pixie = Any
REDIS = "redis://127.0.0.1:6379/0"


def bound_token(pixie: Pixie, key: DPoPKey, client_id: str = "writer", scope: str | None = None) -> str:
    """A client-credentials token bound to ``key`` (a DPoP proof at Pixie's token endpoint)."""
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = httpx.post(
        f"{pixie.base}/token",
        data=data,
        auth=(client_id, SECRETS[client_id]),
        headers={"DPoP": key.proof("POST", f"{pixie.base}/token")},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    token: str = response.json()["access_token"]
    return token


@requires_scopes("properties:read")
async def properties(request: Request) -> Response:
    return JSONResponse({"client_id": request.auth.client_id})


@requires_scopes("properties:write")
async def create(request: Request) -> Response:
    return JSONResponse({"created": True}, status_code=201)


def _verifier(pixie: Pixie) -> JWTVerifier:
    return JWTVerifier(pixie.base, AUDIENCE, jwks=JWKSCache(pixie.jwks_uri))


def closing(verifier: JWTVerifier) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan that closes the verifier's HTTP client when the server stops (on the server's own loop)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await verifier.aclose()

    return lifespan


@pytest.fixture(scope="module")
def api(pixie: Pixie) -> Iterator[str]:
    verifier = _verifier(pixie)
    app = Starlette(
        routes=[Route("/properties", properties), Route("/properties", create, methods=["POST"])],
        lifespan=closing(verifier),
    )
    protected = BearerAuthMiddleware(app, verifier, realm="api", dpop=ResourceDPoP())
    with serve_in_thread(protected, free_port()) as base:
        yield base


@pytest.fixture(scope="module")
def bearer_only_api(pixie: Pixie) -> Iterator[str]:
    verifier = _verifier(pixie)
    app = Starlette(routes=[Route("/properties", properties)], lifespan=closing(verifier))
    with serve_in_thread(BearerAuthMiddleware(app, verifier, realm="api"), free_port()) as base:
        yield base


def dpop_headers(key: DPoPKey, method: str, url: str, token: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, access_token=token)}


def challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    header = response.headers["www-authenticate"]
    scheme = header.split(" ", 1)[0]
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', header))


def test_a_bound_token_with_its_proof_is_accepted(pixie: Pixie, api: str) -> None:
    key = DPoPKey.generate()
    token = bound_token(pixie, key)
    response = httpx.get(f"{api}/properties", headers=dpop_headers(key, "GET", f"{api}/properties", token))
    assert response.status_code == 200, response.text
    assert response.json() == {"client_id": "writer"}
    posted = httpx.post(f"{api}/properties", headers=dpop_headers(key, "POST", f"{api}/properties?x=1", token))
    assert posted.status_code == 201  # the query is no part of htu


def test_a_bound_token_presented_as_bearer_is_refused(pixie: Pixie, api: str) -> None:
    token = bound_token(pixie, DPoPKey.generate())
    response = httpx.get(f"{api}/properties", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    scheme, params = challenge(response)
    assert scheme == "Bearer" and params["error"] == "invalid_token"
    assert "bound to a DPoP key" in params["error_description"]


@pytest.mark.parametrize(
    "attack",
    ["no-proof", "replayed", "other-url", "other-method", "other-token", "thief-key", "expired"],
)
def test_stolen_tokens_and_bad_proofs_are_refused(pixie: Pixie, api: str, attack: str) -> None:
    key, thief = DPoPKey.generate(), DPoPKey.generate()
    token = bound_token(pixie, key)
    url = f"{api}/properties"
    headers = dpop_headers(key, "GET", url, token)
    if attack == "no-proof":
        del headers["DPoP"]
    elif attack == "replayed":
        assert httpx.get(url, headers=headers).status_code == 200
    elif attack == "other-url":
        headers["DPoP"] = key.proof("GET", f"{api}/elsewhere", access_token=token)
    elif attack == "other-method":
        headers["DPoP"] = key.proof("DELETE", url, access_token=token)
    elif attack == "other-token":
        headers["DPoP"] = key.proof("GET", url, access_token=bound_token(pixie, key))
    elif attack == "thief-key":
        headers["DPoP"] = thief.proof("GET", url, access_token=token)
    else:
        old = DPoPKey.from_jwk(key.to_jwk())
        old._clock = lambda: 1_000_000_000  # a proof made long ago
        headers["DPoP"] = old.proof("GET", url, access_token=token)
    response = httpx.get(url, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["cache-control"] == "no-store"
    scheme, params = challenge(response)
    assert scheme == "DPoP"
    assert params["error"] == "invalid_dpop_proof"
    assert {"ES256", "EdDSA"} <= set(params["algs"].split())


def test_an_unbound_token_under_the_dpop_scheme_is_refused(pixie: Pixie, api: str) -> None:
    token = pixie.mint("writer")
    key = DPoPKey.generate()
    response = httpx.get(f"{api}/properties", headers=dpop_headers(key, "GET", f"{api}/properties", token))
    assert response.status_code == 401
    scheme, params = challenge(response)
    assert scheme == "DPoP" and params["error"] == "invalid_token"
    assert httpx.get(f"{api}/properties", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_missing_scope_is_challenged_in_the_scheme_used(pixie: Pixie, api: str) -> None:
    key = DPoPKey.generate()
    token = bound_token(pixie, key, scope="properties:read")
    response = httpx.post(f"{api}/properties", headers=dpop_headers(key, "POST", f"{api}/properties", token))
    assert response.status_code == 403
    scheme, params = challenge(response)
    assert scheme == "DPoP" and params["error"] == "insufficient_scope" and params["scope"] == "properties:write"


def test_a_server_without_dpop_refuses_bound_tokens_either_way(pixie: Pixie, bearer_only_api: str) -> None:
    key = DPoPKey.generate()
    token = bound_token(pixie, key)
    url = f"{bearer_only_api}/properties"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    refused = httpx.get(url, headers=dpop_headers(key, "GET", url, token))
    assert refused.status_code == 401
    assert challenge(refused)[0] == "Bearer"


@pytest.fixture(scope="module")
def fastapi_api(pixie: Pixie) -> Iterator[str]:
    verifier = _verifier(pixie)
    reader = require_scopes("properties:read", verifier=verifier, dpop=ResourceDPoP())
    app = FastAPI(lifespan=closing(verifier))
    install_error_handler(app)

    @app.get("/properties")
    async def list_properties(token: AccessToken = Depends(reader)) -> dict[str, str]:  # noqa: B008
        return {"client_id": token.client_id}

    with serve_in_thread(app, free_port()) as base:
        yield base


def test_the_fastapi_dependency_checks_proofs(pixie: Pixie, fastapi_api: str) -> None:
    key = DPoPKey.generate()
    token = bound_token(pixie, key)
    url = f"{fastapi_api}/properties"
    headers = dpop_headers(key, "GET", url, token)
    assert httpx.get(url, headers=headers).json() == {"client_id": "writer"}
    replayed = httpx.get(url, headers=headers)
    assert replayed.status_code == 401
    assert challenge(replayed)[1]["error"] == "invalid_dpop_proof"
    assert replayed.json()["error"] == "invalid_dpop_proof"


async def echo(request: Request) -> Response:
    return JSONResponse({"headers": sorted(name for name in request.headers)})


@pytest.fixture(scope="module")
def gateways(pixie: Pixie) -> Iterator[tuple[str, str]]:
    """Two gateway instances in front of one upstream, sharing one Redis replay window."""
    prefix = f"pixie-test:{secrets.token_hex(4)}:"
    with serve_in_thread(Starlette(routes=[Route("/{path:path}", echo)]), free_port()) as upstream:

        def gateway() -> Gateway:
            dpop = ResourceDPoP(replay=RedisReplayCache(REDIS, prefix=prefix), origin="https://api.example")
            return Gateway(upstream, _verifier(pixie), require_scopes=["properties:read"], dpop=dpop)

        with serve_in_thread(gateway(), free_port()) as one, serve_in_thread(gateway(), free_port()) as two:
            yield one, two


def test_a_proof_replayed_to_another_gateway_instance_fails(pixie: Pixie, gateways: tuple[str, str]) -> None:
    one, two = gateways
    key = DPoPKey.generate()
    token = bound_token(pixie, key)
    # Both instances serve the public origin https://api.example (behind one load balancer).
    headers = dpop_headers(key, "GET", "https://api.example/things", token)
    first = httpx.get(f"{one}/things", headers=headers)
    assert first.status_code == 200, first.text
    assert "dpop" not in first.json()["headers"] and "authorization" not in first.json()["headers"]
    replayed = httpx.get(f"{two}/things", headers=headers)
    assert replayed.status_code == 401
    assert challenge(replayed)[1]["error"] == "invalid_dpop_proof"
    assert "already used" in challenge(replayed)[1]["error_description"]
    fresh = dpop_headers(key, "GET", "https://api.example/things", token)
    assert httpx.get(f"{two}/things", headers=fresh).status_code == 200


@pytest.mark.parametrize(
    ("scope", "origin", "url"),
    [
        ({"path": "/api/things", "root_path": "/api"}, None, "http://api.test/api/things"),  # Starlette's Mount
        ({"path": "/things", "root_path": "/api"}, None, "http://api.test/api/things"),  # path below the mount
        ({"path": "/things", "root_path": ""}, None, "http://api.test/things"),
        ({"path": "/things", "root_path": ""}, "https://api.example/", "https://api.example/things"),
    ],
)
def test_the_request_url_includes_the_mount_point_once(scope: dict[str, Any], origin: str | None, url: str) -> None:
    """RFC 9449 §4.3 step 9: htu is the URL the client addressed, whichever way the server reports a mount."""
    full = {"type": "http", "scheme": "http", "headers": [(b"host", b"api.test")], **scope}
    assert request_url(full, origin) == url


async def test_the_memory_replay_cache_is_bounded_and_forgets_passed_windows() -> None:
    """A proof is accepted once; a full cache refuses new proofs (answered as replays) instead of growing, and takes
    them again once the remembered ones have expired."""
    now = [1000.0]
    cache = MemoryReplayCache(capacity=2, clock=lambda: now[0])
    assert await cache.first_use("a", 1060) and not await cache.first_use("a", 1060)
    assert await cache.first_use("b", 1010)
    assert not await cache.first_use("c", 1060)  # full of live proofs
    now[0] = 1011.0  # b's window has passed
    assert await cache.first_use("c", 1070)
    assert not await cache.first_use("a", 1060)  # a is still remembered
