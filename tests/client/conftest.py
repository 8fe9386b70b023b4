"""One real Pixie server for the client-library package (on loopback, a fresh SQLite file), and a tiny protected
API in front of it that checks every bearer token by introspection at Pixie (RFC 7662), so a revoked or expired
token is refused exactly as Pixie sees it.

==============  ============  =====================  ================  ===========================================
client          type          grants                 access token      used for
==============  ============  =====================  ================  ===========================================
cli             public        code, refresh          default           flows, token manager, CLI (alice consented)
cli-consent     public        code, refresh          default           full flow through login *and* consent pages
cli-browser     public        code, refresh          default           ``pixie login`` in headless Chromium
short           public        code, refresh          3 s               refresh across expiry (alice consented)
rs              confidential  client_credentials     -                 the protected API's introspection
svc             confidential  client_credentials     default           ClientCredentialsAuth
svc-short       confidential  client_credentials     3 s               ClientCredentialsAuth across expiry
==============  ============  =====================  ================  ===========================================

Every client but ``rs`` has the audience ``rs``, so the protected API (authenticating as ``rs``) may introspect
their tokens (RFC 7662 §4).

Public clients are registered with ``http://127.0.0.1/callback`` (any port, RFC 8252 §7.3). Tenant ``other`` has
its own public ``cli``. User ``alice`` signs in once per package (``alice`` fixture: a browser with her session).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from client.support import (
    APP_CB,
    FULL_SCOPE,
    LOOPBACK_CB,
    RS_SECRET,
    SCOPES,
    SHORT_TTL,
    SVC_SECRET,
    follow_to_callback,
)
from livesupport import free_port, serve_in_thread
from pixie.client import OAuthClient
from pixie.testing import PixieTestServer
from spec.support import PASSWORDS, Browser, Pixie

MASTER_KEY = b"client-suite-master-key-32bytes!"


@pytest.fixture(scope="package")
def pixie() -> Iterator[Pixie]:
    """The server under test, started and seeded through :mod:`pixie.testing` as an app's suite would; its clients
    are described in this module's docstring."""
    with PixieTestServer(master_key=MASTER_KEY, housekeeping_interval=0) as server:
        for client_id, ttl in (("cli", None), ("cli-consent", None), ("cli-browser", None), ("short", SHORT_TTL)):
            server.add_client(client_id, redirect_uri=LOOPBACK_CB, scope=SCOPES, access_token_ttl=ttl, audience="rs")
        machines = (("rs", RS_SECRET, None), ("svc", SVC_SECRET, None), ("svc-short", SVC_SECRET, SHORT_TTL))
        for client_id, secret, ttl in machines:
            server.add_client(
                client_id,
                confidential=True,
                secret=secret,
                grant_types=["client_credentials"],
                scope=SCOPES,
                access_token_ttl=ttl,
                audience=[] if client_id == "rs" else ["rs"],
            )
        server.add_tenant("other")
        server.add_client("cli", tenant="other", redirect_uri=LOOPBACK_CB, scope=SCOPES)
        alice = server.add_user("alice", PASSWORDS["alice"])
        db_path = Path(server.database_url.removeprefix("sqlite:///"))
        yield Pixie(base=server.base_url, db_path=db_path, user_ids={"alice": alice.subject})


@pytest.fixture(scope="package")
def alice_cookie(pixie: Pixie) -> str:
    """alice signs in once (Argon2 is slow on purpose) and consents to ``cli`` and ``short`` for both scopes."""
    with Browser(pixie) as browser, OAuthClient(pixie.issuer, "cli") as oauth:
        follow_to_callback(browser, oauth.start_authorization(APP_CB, FULL_SCOPE).url)
        cookie = browser.session_cookie()
        assert cookie
    with Browser(pixie, cookies={"pixie-session": cookie}) as browser, OAuthClient(pixie.issuer, "short") as oauth:
        follow_to_callback(browser, oauth.start_authorization(APP_CB, FULL_SCOPE).url)
    return cookie


@pytest.fixture
def alice(pixie: Pixie, alice_cookie: str) -> Iterator[Browser]:
    """A browser carrying alice's SSO session: authorizations for consented clients come straight back."""
    with Browser(pixie, cookies={"pixie-session": alice_cookie}) as signed_in:
        yield signed_in


@dataclass
class ProtectedApi:
    """The protected API's address and what it saw: every token presented, and its answers."""

    base: str
    seen: list[tuple[str, int]] = field(default_factory=list)

    def statuses(self) -> list[int]:
        return [status for _, status in self.seen]


def _protected_app(pixie: Pixie, api: ProtectedApi) -> Starlette:
    async def check(request: Request) -> tuple[str, dict[str, object] | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return token, None
        async with httpx.AsyncClient(timeout=10) as http:
            reply = await http.post(f"{pixie.base}/introspect", data={"token": token}, auth=("rs", RS_SECRET))
        reply.raise_for_status()
        claims: dict[str, object] = reply.json()
        return token, claims if claims.get("active") is True else None

    def refuse(token: str, challenge: str) -> Response:
        api.seen.append((token, 401))
        return JSONResponse({"error": "invalid_token"}, 401, headers={"WWW-Authenticate": challenge})

    async def me(request: Request) -> Response:
        token, claims = await check(request)
        if claims is None:
            return refuse(token, 'Bearer realm="api", error="invalid_token"')
        api.seen.append((token, 200))
        body = await request.body()
        return JSONResponse({"sub": claims.get("sub"), "client_id": claims.get("client_id"), "echo": body.decode()})

    async def always_invalid(request: Request) -> Response:
        token, _ = await check(request)
        return refuse(token, 'Bearer realm="api", error="invalid_token"')

    async def no_error_code(request: Request) -> Response:
        token, _ = await check(request)
        return refuse(token, 'Bearer realm="api"')

    return Starlette(
        routes=[
            Route("/me", me, methods=["GET", "POST"]),
            Route("/always-invalid", always_invalid),
            Route("/no-error-code", no_error_code),
        ]
    )


@pytest.fixture(scope="package")
def _api_server(pixie: Pixie) -> Iterator[ProtectedApi]:
    api = ProtectedApi(base="")
    with serve_in_thread(_protected_app(pixie, api), free_port()) as base:
        api.base = base
        yield api


@pytest.fixture
def api(_api_server: ProtectedApi) -> ProtectedApi:
    """The protected API, its log emptied for this test."""
    _api_server.seen.clear()
    return _api_server
