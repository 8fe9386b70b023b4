"""The items API against a real Pixie: ``pixie_server`` (from ``pixie.testing``) registers the app and its users and
signs them in with PKCE; the API checks the tokens it gets exactly as in production, fetching the server's keys over
HTTP. The API itself is called in-process through httpx's ASGI transport (pytest-asyncio runs the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from items_api import AUDIENCE, create_app

from pixie.testing import PixieTestServer


@asynccontextmanager
async def api_client(issuer: str, audience: str = AUDIENCE) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process (its lifespan included), trusting ``issuer``."""
    app = create_app(issuer, audience)
    transport = httpx.ASGITransport(app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        yield api


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_signed_in_user_lists_and_adds_their_items(pixie_server: PixieTestServer) -> None:
    alice = pixie_server.add_user("alice")
    app = pixie_server.add_client("items-app", scope="items:read items:write", audience=AUDIENCE)
    tokens = pixie_server.token_for("alice", client=app, scope="items:read items:write")
    async with api_client(pixie_server.issuer) as api:
        added = await api.post("/items", params={"name": "teapot"}, headers=bearer(tokens.access_token))
        listed = await api.get("/items", headers=bearer(tokens.access_token))
    assert added.status_code == 200, added.text
    assert listed.json() == {"owner": alice.subject, "items": ["teapot"]}


async def test_a_token_without_the_scope_is_forbidden(pixie_server: PixieTestServer) -> None:
    pixie_server.add_user("alice")
    app = pixie_server.add_client("items-reader", scope="items:read", audience=AUDIENCE)
    tokens = pixie_server.token_for("alice", client=app, scope="items:read")
    async with api_client(pixie_server.issuer) as api:
        response = await api.post("/items", params={"name": "x"}, headers=bearer(tokens.access_token))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_expired_and_foreign_tokens_are_refused(pixie_server: PixieTestServer) -> None:
    pixie_server.add_user("alice")
    expired = pixie_server.expired_token("alice", scope="items:read")
    foreign = pixie_server.wrong_audience_token("alice", scope="items:read")
    # The server's own test client issues tokens for the issuer's audience: this API instance expects exactly that.
    async with api_client(pixie_server.issuer, audience=pixie_server.issuer) as api:
        assert (
            await api.get("/items", headers=bearer(pixie_server.token_for("alice", scope="items:read").access_token))
        ).status_code == 200
        for token in (expired, foreign, "not-a-token"):
            response = await api.get("/items", headers=bearer(token))
            assert response.status_code == 401, token
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert (await api.get("/items")).status_code == 401
