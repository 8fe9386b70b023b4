"""A small MCP server, built with the official MCP Python SDK, whose tools only a user signed in through Pixie can
call (see ``README.md`` beside this file; ``test_notes_server.py`` runs the SDK's own client against it).

The SDK does the MCP side: it answers every request without a valid token with 401 and a ``WWW-Authenticate``
challenge naming its RFC 9728 protected-resource metadata, which it serves too (``resource``, and Pixie as the
authorization server). Pixie's part is :class:`pixie.resource.mcp.PixieTokenVerifier`, which checks each token
(signature by the issuer's keys, issuer, audience, expiry) with :class:`pixie.resource.JWTVerifier`.

Run it (Pixie at ``--issuer`` must be running, with the server registered as a protected resource)::

    python examples/mcp_server/notes_server.py --issuer http://127.0.0.1:8000 --port 8001
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from pixie.resource.mcp import PixieTokenVerifier

SCOPE = "notes:read"


def create_server(issuer: str, server_url: str, *, audience: str | None = None) -> tuple[MCPServer, PixieTokenVerifier]:
    """The MCP server at ``server_url`` (its ``/mcp`` endpoint), trusting ``issuer``'s tokens for ``audience``.

    ``audience`` is what the tokens' ``aud`` must hold: by default ``server_url``, the resource MCP clients name
    (RFC 8707) and Pixie puts in ``aud`` once it is registered there (``pixie resources create SERVER_URL``).
    """
    verifier = PixieTokenVerifier.for_issuer(issuer, audience=audience or server_url, resource=server_url)

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[None]:
        yield
        await verifier.aclose()  # the key cache's HTTP client

    server = MCPServer(
        "pixie-notes",
        instructions="Notes of the signed-in user.",
        token_verifier=verifier,
        lifespan=lifespan,
        auth=AuthSettings(
            issuer_url=issuer,  # type: ignore[arg-type]  # pydantic turns the string into its URL type
            resource_server_url=server_url,  # type: ignore[arg-type]
            required_scopes=[SCOPE],
            validate_token_resource=False,  # PixieTokenVerifier checks the audience itself
        ),
    )
    notes: dict[str, list[str]] = {}

    def owner() -> str:
        token = get_access_token()
        return (token.subject if token is not None else None) or "nobody"

    @server.tool()
    def add_note(text: str) -> str:
        """Keep a note for the signed-in user."""
        notes.setdefault(owner(), []).append(text)
        return f"noted ({len(notes[owner()])} in all)"

    @server.tool()
    def list_notes() -> list[str]:
        """The signed-in user's notes."""
        return notes.get(owner(), [])

    return server, verifier


def create_app(issuer: str, server_url: str, *, audience: str | None = None) -> Starlette:
    """The ASGI app: the MCP endpoint at ``/mcp`` and the protected-resource metadata under ``/.well-known``."""
    server, _ = create_server(issuer, server_url, audience=audience)
    return server.streamable_http_app()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", default="http://127.0.0.1:8000", help="Pixie's issuer URL")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--audience", help="the aud the tokens must hold (default: the server's URL)")
    args = parser.parse_args()
    server_url = f"http://127.0.0.1:{args.port}/mcp"
    uvicorn.run(create_app(args.issuer, server_url, audience=args.audience), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
