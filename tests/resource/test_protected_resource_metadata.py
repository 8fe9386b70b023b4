"""RFC 9728 protected-resource metadata and RFC 8707 audiences at the resource side, over real HTTP: the
middleware, the FastAPI dependency and the gateway serve the metadata document at the resource's well-known path
and name it in every challenge; a token meant for one resource is refused by another.

A Pixie server of this module's own registers three resources on loopback addresses (MCP, at a path; BILLING, at
a host's root; GATEWAY, behind the gateway); the ``svc`` client gets a token for one of them with
``client_credentials`` and ``resource``.

Spec: RFC 9728 §2, §3, §3.1, §3.2, §5.1; RFC 8707 §2; RFC 9068 §4 (``aud``); RFC 6750 §3.1; RFC 9449 §7.1.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livesupport import cli_env, free_port, pixie_process, run_coroutine, run_pixie, serve_in_thread, serve_pixie
from pixie.config import Settings
from pixie.management import ensure_default_tenant, register_client
from pixie.protected_resources import create_resource
from pixie.resource import BearerAuthMiddleware, JWTVerifier, ResourceMetadata, requires_scopes
from pixie.resource.credentials import ResourceDPoP
from pixie.resource.fastapi import install_error_handler, install_resource_metadata, require_scopes
from pixie.resource.gateway import Gateway
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

MASTER_KEY = b"resource-metadata-master-key-32b"
SECRET = "svc-secret-0123456789-abcdefghijklmnopqr"


@dataclass(frozen=True)
class Servers:
    issuer: str
    mcp: str  # resource identifier, at a path: http://127.0.0.1:P/mcp
    billing: str  # resource identifier at a host's root: http://127.0.0.1:Q
    gateway: str  # the gateway's resource identifier: http://127.0.0.1:R/api
    fastapi: str  # http://127.0.0.1:S/v1
    command: str  # for ``pixie gateway --resource``: http://127.0.0.1:T/api
    upstream: str

    def token(self, resource: str, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials", "resource": resource, **({"scope": scope} if scope else {})}
        response = httpx.post(f"{self.issuer}/token", data=data, auth=("svc", SECRET), timeout=20)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@requires_scopes("mcp:admin")
async def admin(request: Request) -> Response:
    return JSONResponse({"admin": True})


async def whoami(request: Request) -> Response:
    auth = request.scope["auth"]
    return JSONResponse({"aud": list(auth.audience), "scope": sorted(auth.scopes)})


def _closing(verifier: JWTVerifier) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """A lifespan that closes the verifier's own HTTP client when its server stops."""

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        yield
        await verifier.aclose()

    return lifespan


def _app(verifier: JWTVerifier) -> Starlette:
    return Starlette(routes=[Route("/mcp/admin", admin), Route("/{path:path}", whoami)], lifespan=_closing(verifier))


def _fastapi(issuer: str, metadata: ResourceMetadata) -> FastAPI:
    verifier = JWTVerifier(issuer, metadata.resource)
    app = FastAPI(lifespan=_closing(verifier))
    install_error_handler(app)
    install_resource_metadata(app, metadata)

    async def items(request: Request) -> dict[str, str]:
        return {"client_id": request.scope["auth"].client_id}  # what the dependency verified

    dependency = Depends(require_scopes("items", verifier=verifier, metadata=metadata))
    app.add_api_route("/v1/items", items, methods=["GET"], dependencies=[dependency])

    return app


async def _seed(database_url: str, resources: dict[str, tuple[str, ...]]) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(
            storage,
            "default",
            "svc",
            redirect_uris=[],
            public=False,
            secret=SECRET,
            scopes=["mcp:tools", "mcp:admin", "billing", "items"],
            grant_types=["client_credentials"],
        )
        for identifier, scopes in resources.items():
            await create_resource(storage, "default", identifier, name=identifier, scopes=scopes)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    ports = [free_port() for _ in range(6)]
    issuer = f"http://127.0.0.1:{ports[0]}"
    mcp, billing = f"http://127.0.0.1:{ports[1]}/mcp", f"http://127.0.0.1:{ports[2]}"
    gateway, fastapi = f"http://127.0.0.1:{ports[3]}/api", f"http://127.0.0.1:{ports[4]}/v1"
    database_url = f"sqlite:///{tmp_path_factory.mktemp('metadata') / 'pixie.db'}"
    command = f"http://127.0.0.1:{ports[5]}/api"
    resources = {
        mcp: ("mcp:tools", "mcp:admin"),
        billing: ("billing",),
        gateway: (),
        fastapi: ("items",),
        command: ("mcp:tools",),
    }
    run_coroutine(_seed(database_url, resources))
    settings = Settings(database_url=database_url, issuer=issuer, master_key=MASTER_KEY, housekeeping_interval=0)

    def protect(resource: str, scopes: tuple[str, ...]) -> BearerAuthMiddleware:
        metadata = ResourceMetadata.of(resource, issuer, scopes_supported=scopes, resource_name="Test API")
        verifier = JWTVerifier(issuer, resource)
        return BearerAuthMiddleware(_app(verifier), verifier, realm="test", metadata=metadata, dpop=ResourceDPoP())

    with ExitStack() as stack:
        stack.enter_context(serve_pixie(settings))
        stack.enter_context(serve_in_thread(protect(mcp, resources[mcp]), ports[1]))
        stack.enter_context(serve_in_thread(protect(billing, resources[billing]), ports[2]))
        upstream = stack.enter_context(serve_in_thread(Starlette(routes=[Route("/{p:path}", _echo)]), free_port()))
        gateway_app = Gateway(
            upstream,
            JWTVerifier(issuer, gateway),
            metadata=ResourceMetadata.of(gateway, issuer, scopes_supported=["mcp:tools"]),
        )
        stack.enter_context(serve_in_thread(gateway_app, ports[3]))
        fastapi_metadata = ResourceMetadata.of(fastapi, issuer, scopes_supported=["items"])
        stack.enter_context(serve_in_thread(_fastapi(issuer, fastapi_metadata), ports[4]))
        yield Servers(issuer, mcp, billing, gateway, fastapi, command, upstream)


async def _echo(request: Request) -> Response:
    return JSONResponse({"sub": request.headers.get("x-pixie-sub")})


def _origin(resource: str) -> str:
    return "/".join(resource.split("/")[:3])


def _challenge(response: httpx.Response, scheme: str = "Bearer") -> dict[str, str]:
    header = response.headers["www-authenticate"]
    assert header.startswith(scheme + " "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def test_the_middleware_serves_the_document_at_the_path_suffixed_address(servers: Servers) -> None:
    """RFC 9728 §3.1: for ``…/mcp`` the document is at ``/.well-known/oauth-protected-resource/mcp``; §3.2: 200
    JSON; §2: the members it is configured with (DPoP algorithms because it accepts DPoP)."""
    url = f"{_origin(servers.mcp)}/.well-known/oauth-protected-resource/mcp"
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    document = response.json()
    assert document["resource"] == servers.mcp  # §3.3: exactly the identifier
    assert document["authorization_servers"] == [servers.issuer]
    assert document["scopes_supported"] == ["mcp:tools", "mcp:admin"]
    assert document["bearer_methods_supported"] == ["header"] and document["resource_name"] == "Test API"
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    plain = httpx.get(f"{_origin(servers.mcp)}/.well-known/oauth-protected-resource")
    assert plain.json() == document  # the host's plain form too, for clients that try it first
    assert httpx.head(url).status_code == 200
    refused = httpx.post(url)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    # A resource at the host's root: the plain well-known path, no suffix.
    root = httpx.get(f"{servers.billing}/.well-known/oauth-protected-resource")
    assert root.json()["resource"] == servers.billing and root.json()["scopes_supported"] == ["billing"]


def test_every_challenge_names_the_metadata(servers: Servers) -> None:
    """RFC 9728 §5.1: ``resource_metadata`` in the 401 (no token, bad token), the 403 (``insufficient_scope``)
    and the DPoP challenge alike."""
    metadata_url = f"{_origin(servers.mcp)}/.well-known/oauth-protected-resource/mcp"
    anonymous = httpx.get(f"{_origin(servers.mcp)}/mcp")
    assert anonymous.status_code == 401
    assert _challenge(anonymous)["resource_metadata"] == metadata_url
    garbage = httpx.get(f"{_origin(servers.mcp)}/mcp", headers={"Authorization": "Bearer not-a-token"})
    assert _challenge(garbage)["error"] == "invalid_token"
    assert _challenge(garbage)["resource_metadata"] == metadata_url
    tools_only = servers.token(servers.mcp, "mcp:tools")
    forbidden = httpx.get(f"{_origin(servers.mcp)}/mcp/admin", headers={"Authorization": f"Bearer {tools_only}"})
    assert forbidden.status_code == 403
    params = _challenge(forbidden)
    assert params["error"] == "insufficient_scope" and params["scope"] == "mcp:admin"
    assert params["resource_metadata"] == metadata_url
    dpop = httpx.get(f"{_origin(servers.mcp)}/mcp", headers={"Authorization": "DPoP not-a-token"})
    assert dpop.status_code == 401
    assert _challenge(dpop, "DPoP")["resource_metadata"] == metadata_url


def test_a_token_for_one_resource_is_refused_by_another(servers: Servers) -> None:
    """RFC 8707 §2 and RFC 9068 §4: the token names MCP as its audience; BILLING refuses it (401 invalid_token,
    its own metadata in the challenge), MCP takes it."""
    token = servers.token(servers.mcp)
    accepted = httpx.get(f"{_origin(servers.mcp)}/mcp", headers={"Authorization": f"Bearer {token}"})
    assert accepted.status_code == 200 and accepted.json()["aud"] == [servers.mcp]
    refused = httpx.get(f"{servers.billing}/invoices", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    params = _challenge(refused)
    assert params["error"] == "invalid_token" and "audience" in params["error_description"]
    assert params["resource_metadata"] == f"{servers.billing}/.well-known/oauth-protected-resource"
    own = servers.token(servers.billing)
    assert httpx.get(f"{servers.billing}/invoices", headers={"Authorization": f"Bearer {own}"}).status_code == 200


def test_the_gateway_serves_the_metadata_and_refuses_other_audiences(servers: Servers) -> None:
    """RFC 9728 §3.1, §5.1 at the gateway; RFC 8707: a token for another resource does not pass it."""
    origin = _origin(servers.gateway)
    document = httpx.get(f"{origin}/.well-known/oauth-protected-resource/api").json()
    assert document == {
        "resource": servers.gateway,
        "authorization_servers": [servers.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["mcp:tools"],
    }
    metadata_url = f"{origin}/.well-known/oauth-protected-resource/api"
    anonymous = httpx.get(f"{origin}/api/x")
    assert anonymous.status_code == 401 and _challenge(anonymous)["resource_metadata"] == metadata_url
    foreign = httpx.get(f"{origin}/api/x", headers={"Authorization": f"Bearer {servers.token(servers.mcp)}"})
    assert foreign.status_code == 401 and _challenge(foreign)["resource_metadata"] == metadata_url
    own = httpx.get(f"{origin}/api/x", headers={"Authorization": f"Bearer {servers.token(servers.gateway)}"})
    assert own.status_code == 200 and own.json() == {"sub": "svc"}


def test_the_fastapi_dependency_names_the_metadata(servers: Servers) -> None:
    """RFC 9728 with FastAPI: ``install_resource_metadata`` serves the document, the dependency's challenges
    name it; another resource's token is refused."""
    origin = _origin(servers.fastapi)
    document = httpx.get(f"{origin}/.well-known/oauth-protected-resource/v1").json()
    assert document["resource"] == servers.fastapi and document["scopes_supported"] == ["items"]
    anonymous = httpx.get(f"{origin}/v1/items")
    assert anonymous.status_code == 401
    assert _challenge(anonymous)["resource_metadata"] == f"{origin}/.well-known/oauth-protected-resource/v1"
    foreign = httpx.get(f"{origin}/v1/items", headers={"Authorization": f"Bearer {servers.token(servers.mcp)}"})
    assert foreign.status_code == 401 and _challenge(foreign)["error"] == "invalid_token"
    own = httpx.get(f"{origin}/v1/items", headers={"Authorization": f"Bearer {servers.token(servers.fastapi)}"})
    assert own.status_code == 200 and own.json() == {"client_id": "svc"}


def test_the_gateway_command_takes_its_resource(servers: Servers, tmp_path: Path) -> None:
    """``pixie gateway --resource URL``: serves the metadata (its scopes from ``--require-scope`` and routes),
    names it in challenges, and takes the resource as its audience."""
    origin = _origin(servers.command)
    args = ["gateway", "--upstream", servers.upstream, "--issuer", servers.issuer, "--resource", servers.command]
    args += ["--port", origin.rsplit(":", 1)[1], "--require-scope", "mcp:tools", "--route", "/api/admin=mcp:admin"]
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    metadata_url = f"{origin}/.well-known/oauth-protected-resource/api"
    with pixie_process(args, env, ready_url=metadata_url):
        document = httpx.get(metadata_url).json()
        anonymous = httpx.get(f"{origin}/api/x")
        own = httpx.get(f"{origin}/api/x", headers={"Authorization": f"Bearer {servers.token(servers.command)}"})
        foreign = httpx.get(f"{origin}/api/x", headers={"Authorization": f"Bearer {servers.token(servers.mcp)}"})
    assert document["resource"] == servers.command and document["authorization_servers"] == [servers.issuer]
    assert document["scopes_supported"] == ["mcp:tools", "mcp:admin"]
    assert "dpop_signing_alg_values_supported" in document  # the gateway accepts DPoP-bound tokens
    assert anonymous.status_code == 401 and _challenge(anonymous)["resource_metadata"] == metadata_url
    assert own.status_code == 200 and own.json() == {"sub": "svc"}
    assert foreign.status_code == 401 and _challenge(foreign)["error"] == "invalid_token"


def test_the_gateway_command_refuses_a_resource_that_is_no_url(tmp_path: Path) -> None:
    args = ["gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:2", "--resource", "urn:x"]
    result = run_pixie(args, cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}"))
    assert result.returncode == 2 and "--resource" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "resource",
    ["http://api.example/", "https://api.example/?q=1", "https://api.example/#f", "urn:example:api", "/api"],
)
def test_metadata_needs_an_https_url_without_query_or_fragment(resource: str) -> None:
    """RFC 9728 §1.2: the identifier is an https URL without query or fragment (http on loopback for tests)."""
    with pytest.raises(ValueError, match="resource"):
        ResourceMetadata.of(resource, "https://auth.example")
