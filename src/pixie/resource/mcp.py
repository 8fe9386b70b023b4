"""Protecting an MCP server with Pixie: the official MCP Python SDK's ``TokenVerifier``, over :class:`JWTVerifier`.

Install with ``pip install 'pixie-oauth[mcp]'``. The SDK's server checks each request's Bearer token through a
token verifier and serves the RFC 9728 protected-resource metadata itself; this adapter is that verifier::

    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer
    from pixie.resource.mcp import PixieTokenVerifier

    verifier = PixieTokenVerifier.for_issuer("https://auth.example", audience="https://mcp.example/mcp")
    server = MCPServer(
        "notes",
        token_verifier=verifier,
        auth=AuthSettings(
            issuer_url="https://auth.example",
            resource_server_url="https://mcp.example/mcp",
            required_scopes=["notes:read"],
            validate_token_resource=False,  # the verifier checks the audience itself
        ),
    )

Every check is :class:`JWTVerifier`'s (signature by the issuer's published keys, ``typ``, ``iss``, ``aud``,
``exp``); a token it refuses is ``None`` to the SDK, which answers 401 with its challenge. A DPoP-bound token
(``cnf.jkt``) is refused too: the SDK's middleware knows only the Bearer scheme, and such a token must never be
accepted as a Bearer token (RFC 9449 §7.1).

Spec: RFC 6750 §2.1, §3.1; RFC 9068 §4; RFC 8707 §2 (the token's audience is the resource); RFC 9449 §7.1.
"""

from __future__ import annotations

import logging

from mcp.server.auth.provider import AccessToken as McpAccessToken

from pixie.errors import InvalidToken, TemporarilyUnavailable
from pixie.resource.verifier import JWTVerifier, TokenVerifier

__all__ = ["PixieTokenVerifier"]

log = logging.getLogger("pixie.resource.mcp")


class PixieTokenVerifier:
    """An ``mcp.server.auth.provider.TokenVerifier``: ``await verify_token(token)`` is the SDK's
    ``AccessToken`` for a token ``verifier`` accepts, else None.

    ``resource`` names the MCP server (its ``AuthSettings.resource_server_url``); the SDK's ``AccessToken.resource``
    is set to it when the token's audience holds it, else to the token's first audience, so that the SDK's own
    ``validate_token_resource`` check can be used as well.
    """

    def __init__(self, verifier: TokenVerifier, *, resource: str | None = None) -> None:
        self.verifier = verifier
        self.resource = resource

    @classmethod
    def for_issuer(cls, issuer: str, *, audience: str, resource: str | None = None) -> PixieTokenVerifier:
        """A verifier of ``issuer``'s JWT access tokens meant for ``audience`` (keys from its RFC 8414 metadata)."""
        return cls(JWTVerifier(issuer, audience), resource=resource or audience)

    async def verify_token(self, token: str) -> McpAccessToken | None:
        """The SDK's view of a valid token; None for any token Pixie's verifier refuses.

        Spec: RFC 9068 §4; RFC 9449 §7.1 (a DPoP-bound token is not a Bearer token).
        """
        try:
            verified = await self.verifier.verify(token)
        except InvalidToken as exc:
            log.debug("MCP request with a refused token: %s", exc.description)
            return None
        except TemporarilyUnavailable as exc:
            # The issuer's keys could not be fetched: no token can be checked, so none is accepted.
            log.warning("cannot verify tokens: %s", exc.description)
            return None
        if verified.claims.get("cnf") is not None:
            log.debug("MCP request with a DPoP-bound token sent as a Bearer token")
            return None
        audiences = verified.audience
        if self.resource is not None and self.resource in audiences:
            resource: str | None = self.resource
        else:
            resource = audiences[0] if audiences else None
        return McpAccessToken(
            token=token,
            client_id=verified.client_id,
            scopes=sorted(verified.scopes),
            expires_at=verified.expires_at,
            resource=resource,
            subject=verified.subject,
            claims=dict(verified.claims),
        )

    async def aclose(self) -> None:
        """Close the verifier's JWKS client (when it made its own)."""
        aclose = getattr(self.verifier, "aclose", None)
        if aclose is not None:
            await aclose()
