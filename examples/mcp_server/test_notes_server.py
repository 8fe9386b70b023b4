"""The notes MCP server against a real Pixie, reached by the official MCP Python SDK client with its own OAuth
provider, exactly as an MCP host would: no client is registered beforehand.

The client is sent a 401, reads the server's protected-resource metadata (RFC 9728), then Pixie's
authorization-server metadata (RFC 8414), registers itself (RFC 7591), runs the authorization-code flow with PKCE
and ``resource`` (RFC 8707; the person signing in is played by ``pixie_server.sign_in``, which fills in Pixie's
login and consent pages), and calls the tools with the token it got, whose ``aud`` is the MCP server. The MCP
server runs under uvicorn on a loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import uvicorn
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from notes_server import SCOPE, create_app
from starlette.types import ASGIApp

from pixie.testing import PixieTestServer

REDIRECT_URI = "http://127.0.0.1:33418/callback"  # never listened on: the sign-in returns the redirect to us


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(app: ASGIApp, port: int) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the MCP server did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class MemoryStorage(TokenStorage):
    """Where the SDK's OAuth provider keeps its registration and tokens (an MCP host would use a keychain)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def _provider(pixie: PixieTestServer, server_url: str, storage: MemoryStorage, username: str) -> OAuthClientProvider:
    callbacks: list[str] = []

    async def redirect_handler(authorization_url: str) -> None:
        # A browser would open authorization_url; here the user is played over HTTP (a blocking call: a thread).
        callbacks.append(await asyncio.to_thread(pixie.sign_in, username, authorization_url, REDIRECT_URI))

    async def callback_handler() -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(callbacks[-1]).query)
        return AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    metadata = OAuthClientMetadata(
        client_name="Notes test host",
        redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]  # pydantic turns the string into its URL type
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="none",  # noqa: S106  (a method name, not a secret)
        scope=SCOPE,
    )
    return OAuthClientProvider(
        server_url,
        metadata,
        storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )


async def test_the_official_mcp_client_registers_signs_in_and_calls_tools(pixie_server: PixieTestServer) -> None:
    port = _free_port()
    server_url = f"http://127.0.0.1:{port}/mcp"
    # The MCP server is a protected resource of Pixie (RFC 8707): clients may register for the scope it accepts.
    pixie_server.add_resource(server_url, scope=SCOPE, name="Notes")
    pixie_server.update_settings(registration="open")
    alice = pixie_server.add_user("alice")
    storage = MemoryStorage()
    with serving(create_app(pixie_server.issuer, server_url), port):
        provider = _provider(pixie_server, server_url, storage, "alice")
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(server_url, http_client=http)) as client,
        ):
            added = await client.call_tool("add_note", {"text": "buy tea"})
            listed = await client.call_tool("list_notes", {})
    assert not added.is_error and not listed.is_error, (added, listed)
    assert "buy tea" in str(listed.structured_content or listed.content)
    # The client registered itself with Pixie and was given a public client id (RFC 7591) ...
    assert storage.client_info is not None and storage.client_info.client_id
    assert storage.client_info.token_endpoint_auth_method == "none"  # noqa: S105  (a method, not a secret)
    # ... and its token is alice's, for the scope the server asked for.
    assert storage.tokens is not None and storage.tokens.scope == SCOPE
    payload = storage.tokens.access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == alice.subject and claims["client_id"] == storage.client_info.client_id
    assert claims["aud"] == server_url  # the client named the server as resource (RFC 8707): aud is exactly it


def test_without_a_valid_token_the_server_challenges(pixie_server: PixieTestServer) -> None:
    """RFC 9728 §5.1: the 401 names the protected-resource metadata, which names Pixie; foreign tokens are refused."""
    port = _free_port()
    server_url = f"http://127.0.0.1:{port}/mcp"
    pixie_server.add_resource(server_url, scope=SCOPE, name="Notes")
    pixie_server.add_user("bob")
    with serving(create_app(pixie_server.issuer, server_url), port):
        bare = httpx.post(server_url, json={})
        assert bare.status_code == 401
        challenge = bare.headers["www-authenticate"]
        assert "resource_metadata=" in challenge
        metadata_url = challenge.split('resource_metadata="')[1].split('"')[0]
        metadata = httpx.get(metadata_url).json()
        assert metadata["resource"] == server_url
        assert metadata["authorization_servers"] == [pixie_server.issuer]
        foreign = pixie_server.wrong_audience_token("bob", scope=SCOPE)
        refused = httpx.post(server_url, json={}, headers={"Authorization": f"Bearer {foreign}"})
        assert refused.status_code == 401
