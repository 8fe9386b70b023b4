"""Pixie's own client with DPoP and PAR, against the real server: the code is bound to the client's key, tokens come
back DPoP-bound and keep their key (in memory and in a token file), refreshes use that key whatever client makes
them, ``BearerAuth`` calls a DPoP-protected API with proofs (answering a resource server's nonce once), and
``push=True`` sends the request through PAR.

Spec: RFC 9449 §4–5, §7, §9, §10; RFC 9126 §2, §4.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from client.support import APP_CB, FULL_SCOPE, SVC_SECRET, follow_to_callback, signed_in
from livesupport import free_port, serve_in_thread
from pixie.client import AsyncOAuthClient, BearerAuth, FileTokenStore, OAuthClient
from pixie.client.dpop import DPoPKey
from pixie.resource import BearerAuthMiddleware, JWKSCache, JWTVerifier
from pixie.resource.credentials import ResourceDPoP
from pixie.resource.dpop import ProofChecker
from spec.support import Browser, Pixie, jwt_part, sha256_hex


def _cnf(tokens: Any) -> str:
    return str(jwt_part(tokens.access_token, 1)["cnf"]["jkt"])


@pytest.fixture(scope="module")
def dpop_api(pixie: Pixie) -> Iterator[str]:
    """An API that accepts DPoP-bound tokens for audience ``rs`` (the middleware with DPoP), and under ``/nonce``
    a resource that wants its own nonce in every proof (RFC 9449 §9)."""
    verifier = JWTVerifier(pixie.issuer, "rs", jwks=JWKSCache(f"{pixie.base}/jwks.json"))
    checker = ProofChecker()

    async def me(request: Request) -> Response:
        auth = request.scope["auth"]
        scheme = request.headers["authorization"].split(" ")[0]
        return JSONResponse({"client_id": auth.client_id, "scheme": scheme})

    async def wants_nonce(request: Request) -> Response:
        proof = checker._jws.parse(request.headers["dpop"])
        claims = json.loads(proof._signature.payload)
        if claims.get("nonce") != "rs-nonce-1":
            headers = {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "rs-nonce-1"}
            return JSONResponse({"error": "use_dpop_nonce"}, 401, headers=headers)
        return await me(request)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await verifier.aclose()

    app = Starlette(routes=[Route("/me", me), Route("/nonce", wants_nonce)], lifespan=lifespan)
    with serve_in_thread(BearerAuthMiddleware(app, verifier, dpop=ResourceDPoP()), free_port()) as base:
        yield base


def test_sign_in_binds_code_and_tokens_to_the_clients_key(pixie: Pixie, alice: Browser) -> None:
    key = DPoPKey.generate()
    with OAuthClient(pixie.issuer, "cli", dpop=key) as oauth:
        start = oauth.start_authorization(APP_CB, FULL_SCOPE)
        assert parse_qs(urlsplit(start.url).query)["dpop_jkt"] == [key.thumbprint]
        callback = follow_to_callback(alice, start.url)
        code = parse_qs(urlsplit(callback).query)["code"][0]
        tokens = oauth.complete_authorization(start.transaction, callback)
    assert tokens.token_type == "DPoP" and _cnf(tokens) == key.thumbprint
    assert tokens.dpop_key is not None and DPoPKey.from_jwk(tokens.dpop_key).thumbprint == key.thumbprint
    bound = pixie.query("SELECT dpop_jkt FROM authorization_codes WHERE code_hash = ?", (sha256_hex(code),))
    assert bound == [(key.thumbprint,)]
    assert "dpop_key" not in repr(tokens) and "'d'" not in repr(tokens)


def test_tokens_refresh_with_their_own_key_in_a_later_process(pixie: Pixie, alice: Browser, tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json", binding="cli")
    with OAuthClient(pixie.issuer, "cli", dpop=True) as first:
        tokens = signed_in(first, alice)
        store.save(tokens)
    assert os.stat(tmp_path / "tokens.json").st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "tokens.json").read_text())["tokens"]["dpop_key"]["d"]
    loaded = store.load()
    assert loaded is not None
    with OAuthClient(pixie.issuer, "cli", dpop=True) as later:  # a new key of its own: not the tokens' key
        refreshed = later.refresh(loaded)
    assert refreshed.token_type == "DPoP" and _cnf(refreshed) == _cnf(tokens)
    assert refreshed.dpop_key == tokens.dpop_key


def test_bearer_auth_sends_proofs_and_answers_a_resource_nonce(pixie: Pixie, alice: Browser, dpop_api: str) -> None:
    with OAuthClient(pixie.issuer, "cli", dpop=True) as oauth:
        manager = oauth.token_manager(signed_in(oauth, alice))
        with httpx.Client(auth=BearerAuth(manager)) as http:
            assert http.get(f"{dpop_api}/me").json() == {"client_id": "cli", "scheme": "DPoP"}
            assert http.get(f"{dpop_api}/me").status_code == 200  # a fresh proof each time: no replay
            assert http.get(f"{dpop_api}/nonce").json()["scheme"] == "DPoP"


async def test_the_async_client_does_the_same(pixie: Pixie, alice: Browser, dpop_api: str) -> None:
    async with AsyncOAuthClient(pixie.issuer, "cli", dpop=True) as oauth:
        start = await oauth.start_authorization(APP_CB, FULL_SCOPE)
        tokens = await oauth.complete_authorization(start.transaction, follow_to_callback(alice, start.url))
        assert tokens.token_type == "DPoP"
        manager = oauth.token_manager(tokens)
        async with httpx.AsyncClient(auth=BearerAuth(manager)) as http:
            assert (await http.get(f"{dpop_api}/me")).json()["scheme"] == "DPoP"
        refreshed = await oauth.refresh(tokens)
        assert _cnf(refreshed) == _cnf(tokens)


def test_client_credentials_with_dpop(pixie: Pixie, dpop_api: str) -> None:
    with OAuthClient(pixie.issuer, "svc", SVC_SECRET, dpop=True) as oauth:
        tokens = oauth.client_credentials()
        assert tokens.token_type == "DPoP" and tokens.dpop_key is not None
        with httpx.Client(auth=BearerAuth(oauth.token_manager(tokens))) as http:
            assert http.get(f"{dpop_api}/me").json() == {"client_id": "svc", "scheme": "DPoP"}


def test_push_sends_the_request_through_par(pixie: Pixie, alice: Browser) -> None:
    with OAuthClient(pixie.issuer, "cli", dpop=True, push=True) as oauth:
        start = oauth.start_authorization(APP_CB, FULL_SCOPE)
        query = parse_qs(urlsplit(start.url).query)
        assert set(query) == {"client_id", "request_uri"}
        assert re.fullmatch(r"urn:ietf:params:oauth:request_uri:[\w-]{40,}", query["request_uri"][0])
        tokens = oauth.complete_authorization(start.transaction, follow_to_callback(alice, start.url))
    assert tokens.token_type == "DPoP"


def test_without_dpop_the_tokens_stay_bearer(pixie: Pixie, alice: Browser) -> None:
    with OAuthClient(pixie.issuer, "cli") as oauth:
        tokens = signed_in(oauth, alice)
    assert tokens.token_type == "Bearer" and tokens.dpop_key is None
    assert "cnf" not in jwt_part(tokens.access_token, 1)
