"""DPoP with a third-party client: oauth4webapi's own DPoP support (its key pair, its proofs, its nonce retry)
signs in against a served Pixie, calls a Pixie-protected API with the bound token, refreshes with its key, and a
thief's refresh with another key is refused — on a tenant without nonces and on one that requires them.

Spec: RFC 9449 §5 (token endpoint), §7 (resource server), §8 (nonces), §10 (``dpop_jkt``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from interop_support import browse_to_callback, node
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livesupport import free_port, run_coroutine, serve_in_thread, serve_pixie
from pixie.config import Settings
from pixie.management import create_tenant, create_user, ensure_default_tenant, register_client
from pixie.resource import BearerAuthMiddleware, JWKSCache, JWTVerifier, requires_scopes
from pixie.resource.credentials import ResourceDPoP
from pixie.storage.records import TenantSettings
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

REDIRECT = "http://127.0.0.1:9999/cb"
MASTER = b"interop-dpop-master-key-32-bytes"
TENANTS = {"default": "", "nonces": "/t/nonces"}


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        keyring = KeyRing(storage.keys, MASTER)
        await ensure_default_tenant(storage, keyring)
        await create_tenant(storage, keyring, "nonces", settings=TenantSettings(dpop_nonce=True))
        for tenant in TENANTS:
            await register_client(
                storage, tenant, "interop", redirect_uris=[REDIRECT], public=True, scopes=["properties:read"]
            )
            await create_user(storage, tenant, "bob", "bob-password-1")
        await register_client(
            storage,
            "default",
            "interop-par",
            redirect_uris=[REDIRECT],
            public=True,
            scopes=["properties:read"],
            require_pushed_authorization_requests=True,
        )


@requires_scopes("properties:read")
async def properties(request: Request) -> Response:
    return JSONResponse({"sub_is_set": bool(request.auth.subject), "client_id": request.auth.client_id})


def _api(issuer: str) -> BearerAuthMiddleware:
    verifier = JWTVerifier(issuer, issuer, jwks=JWKSCache(f"{issuer}/jwks.json"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await verifier.aclose()

    app = Starlette(routes=[Route("/properties", properties)], lifespan=lifespan)
    return BearerAuthMiddleware(app, verifier, dpop=ResourceDPoP())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """Pixie, and one protected API per tenant."""
    port = free_port()
    database_url = f"sqlite:///{tmp_path_factory.mktemp('interop-dpop') / 'pixie.db'}"
    run_coroutine(_seed(database_url))
    base = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=database_url, issuer=base, master_key=MASTER)
    with serve_pixie(settings):
        issuers = {tenant: base + prefix for tenant, prefix in TENANTS.items()}
        with (
            serve_in_thread(_api(issuers["default"]), free_port()) as default_api,
            serve_in_thread(_api(issuers["nonces"]), free_port()) as nonces_api,
        ):
            yield base, {"default": default_api, "nonces": nonces_api}


@pytest.mark.parametrize(
    ("tenant", "client_id", "mode"),
    [("default", "interop", "query"), ("nonces", "interop", "query"), ("default", "interop-par", "par")],
    ids=["query", "server-nonces", "pushed-request"],
)
def test_oauth4webapi_signs_in_calls_and_refreshes_with_dpop(
    served: tuple[str, dict[str, str]], tenant: str, client_id: str, mode: str, tmp_path: Path
) -> None:
    """The code is bound to the library's key: by ``dpop_jkt`` in the query, or by its proof at ``/par`` for a
    client that must push its requests."""
    base, apis = served
    issuer = base + TENANTS[tenant]
    key_file = str(tmp_path / "key.json")
    started = node("dpop_client.mjs", "start", issuer, client_id, REDIRECT, "properties:read", key_file, mode)
    assert {"ES256", "EdDSA"} <= set(started["dpop_algs"])  # type: ignore[arg-type]
    callback = browse_to_callback(str(started["url"]), REDIRECT, "bob", "bob-password-1")
    result: dict[str, Any] = node(
        "dpop_client.mjs",
        "finish",
        issuer,
        client_id,
        REDIRECT,
        str(started["state"]),
        str(started["verifier"]),
        callback,
        key_file,
        f"{apis[tenant]}/properties",
    )
    assert result["token_type"].lower() == "dpop"
    assert result["api_status"] == 200, result
    assert result["api_body"] == {"sub_is_set": True, "client_id": client_id}
    assert result["refreshed_token_type"].lower() == "dpop"
    assert result["thief_error"] == "invalid_dpop_proof"
    assert result["owner_refreshed_again"] is True
