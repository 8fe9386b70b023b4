"""``pixie.resource.mcp.PixieTokenVerifier``, the MCP SDK's ``TokenVerifier`` over :class:`JWTVerifier`, with real
tokens from a real Pixie: a valid Bearer token becomes the SDK's ``AccessToken`` (client, scopes, expiry, subject,
the resource it was issued for); any token ``JWTVerifier`` refuses is None, and so is a DPoP-bound token, which the
SDK's Bearer-only middleware must never accept.

Spec: RFC 9068 §4; RFC 8707 §2 (``aud``); RFC 9449 §7.1 (a bound token is not a Bearer token).
"""

from __future__ import annotations

from typing import Any

import httpx
from mcp.server.auth.provider import AccessToken as McpAccessToken
from resource_support import AUDIENCE, SECRETS

from pixie.client.dpop import DPoPKey
from pixie.resource import JWKSCache, JWTVerifier
from pixie.resource.mcp import PixieTokenVerifier

Pixie = Any


def _verifier(pixie: Pixie, audience: str = AUDIENCE) -> PixieTokenVerifier:
    return PixieTokenVerifier(JWTVerifier(pixie.base, audience, jwks=JWKSCache(pixie.jwks_uri)), resource=AUDIENCE)


async def test_a_valid_token_becomes_the_sdks_access_token(pixie: Pixie) -> None:
    token = pixie.mint("writer", scope="properties:read tenants:read")
    verifier = _verifier(pixie)
    try:
        seen = await verifier.verify_token(token)
    finally:
        await verifier.aclose()
    assert isinstance(seen, McpAccessToken)
    assert seen.client_id == "writer" and seen.subject == "writer"
    assert seen.scopes == ["properties:read", "tenants:read"]
    assert seen.resource == AUDIENCE and seen.token == token
    assert seen.expires_at is not None and seen.claims is not None and seen.claims["iss"] == pixie.base


async def test_refused_tokens_are_none(pixie: Pixie) -> None:
    verifier = _verifier(pixie)
    other_audience = _verifier(pixie, audience="https://mcp.example/mcp")
    try:
        assert await verifier.verify_token("not-a-jwt") is None
        assert await verifier.verify_token(pixie.mint("elsewhere")) is None  # aud is another API's
        assert await other_audience.verify_token(pixie.mint("writer")) is None
    finally:
        await verifier.aclose()
        await other_audience.aclose()


async def test_a_dpop_bound_token_is_not_accepted_as_a_bearer_token(pixie: Pixie) -> None:
    key = DPoPKey.generate()
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.post(
            f"{pixie.base}/token",
            data={"grant_type": "client_credentials"},
            auth=("writer", SECRETS["writer"]),
            headers={"DPoP": key.proof("POST", f"{pixie.base}/token")},
        )
    assert response.json()["token_type"] == "DPoP", response.text
    verifier = _verifier(pixie)
    try:
        bound = response.json()["access_token"]
        assert "cnf" in (await verifier.verifier.verify(bound)).claims  # a good token, but bound to the key
        assert await verifier.verify_token(bound) is None
    finally:
        await verifier.aclose()
