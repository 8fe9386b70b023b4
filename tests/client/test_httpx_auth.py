"""``httpx.Auth`` integration against a real protected API (introspecting at Pixie): bearer header, one refresh and
one retry on ``401 invalid_token``, single flight under concurrent 401s, both clients, machine clients, and the
"Done when" of issue 5: ``httpx.Client(auth=...)`` keeps working across access-token expiry with one refresh per
expiry (issue 5, item 6)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from client.conftest import ProtectedApi
from client.support import SHORT_TTL, SVC_SECRET, TokenRequests, signed_in
from pixie.client import (
    AsyncOAuthClient,
    AsyncTokenManager,
    BearerAuth,
    ClientCredentialsAuth,
    OAuthClient,
    TokenManager,
    TokenSet,
)
from spec.support import Browser, Pixie


@pytest.fixture
def counted(pixie: Pixie) -> Iterator[tuple[OAuthClient, TokenRequests]]:
    requests = TokenRequests(f"{pixie.base}/token")
    with httpx.Client(event_hooks={"request": [requests]}) as http:
        yield OAuthClient(pixie.issuer, "cli", http=http), requests


def _revoke(pixie: Pixie, token: str, client_id: str = "cli") -> None:
    """RFC 7009: the resource owner's client revokes its access token; introspection then says inactive."""
    response = httpx.post(f"{pixie.base}/revoke", data={"token": token, "client_id": client_id})
    assert response.status_code == 200


def test_bearer_token_is_attached(
    pixie: Pixie, api: ProtectedApi, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """RFC 6750 §2.1."""
    client, requests = counted
    manager = client.token_manager(signed_in(client, alice))
    with httpx.Client(base_url=api.base, auth=BearerAuth(manager)) as http:
        response = http.get("/me")
    assert response.status_code == 200 and response.json()["sub"] == pixie.user_ids["alice"]
    assert api.seen == [(manager.access_token(), 200)] and requests.grants == ["authorization_code"]


def test_invalid_token_refreshes_once_and_retries(
    pixie: Pixie, api: ProtectedApi, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """RFC 6750 §3.1: the API says ``invalid_token`` (the token was revoked, though not expired); the auth
    refreshes once and sends the request again, body included."""
    client, requests = counted
    manager = client.token_manager(signed_in(client, alice))
    revoked = manager.access_token()
    _revoke(pixie, revoked)
    with httpx.Client(base_url=api.base, auth=BearerAuth(manager)) as http:
        response = http.post("/me", content=b"payload")
    assert response.status_code == 200 and response.json()["echo"] == "payload"
    assert api.seen == [(revoked, 401), (manager.access_token(), 200)]
    assert requests.count("refresh_token") == 1


def test_a_second_401_is_returned_not_looped(
    api: ProtectedApi, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """Refresh once, retry once: an API that refuses every token gets exactly two requests."""
    client, requests = counted
    manager = client.token_manager(signed_in(client, alice))
    with httpx.Client(base_url=api.base, auth=BearerAuth(manager)) as http:
        response = http.get("/always-invalid")
    assert response.status_code == 401 and api.statuses() == [401, 401]
    assert requests.count("refresh_token") == 1


def test_401_without_invalid_token_is_not_retried(
    api: ProtectedApi, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """Only ``error="invalid_token"`` means a new token could help (RFC 6750 §3.1)."""
    client, requests = counted
    manager = client.token_manager(signed_in(client, alice))
    with httpx.Client(base_url=api.base, auth=BearerAuth(manager)) as http:
        assert http.get("/no-error-code").status_code == 401
    assert api.statuses() == [401] and requests.count("refresh_token") == 0


def test_concurrent_401s_cause_one_refresh(
    pixie: Pixie, api: ProtectedApi, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """20 threads all get ``invalid_token`` for the same revoked token; one refreshes, all retry with its result."""
    client, requests = counted
    manager = client.token_manager(signed_in(client, alice))
    _revoke(pixie, manager.access_token())
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    with httpx.Client(base_url=api.base, auth=BearerAuth(manager), limits=httpx.Limits(max_connections=20)) as http:

        def call() -> None:
            barrier.wait()
            statuses.append(http.get("/me").status_code)

        threads = [threading.Thread(target=call) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert statuses == [200] * 20
    assert requests.count("refresh_token") == 1
    assert api.statuses().count(401) == 20 and api.statuses().count(200) == 20


async def test_async_client_with_async_manager(pixie: Pixie, api: ProtectedApi, alice: Browser) -> None:
    """httpx.AsyncClient + AsyncTokenManager: 20 concurrent requests with a revoked token, one refresh."""
    requests = TokenRequests(f"{pixie.base}/token")
    async with (
        httpx.AsyncClient(event_hooks={"request": [requests.async_hook]}) as token_http,
        AsyncOAuthClient(pixie.issuer, "cli", http=token_http) as client,
    ):
        with OAuthClient(pixie.issuer, "cli") as sync_client:
            tokens = signed_in(sync_client, alice)
        manager = client.token_manager(tokens)
        _revoke(pixie, tokens.access_token)
        async with httpx.AsyncClient(base_url=api.base, auth=BearerAuth(manager)) as http:
            responses = await asyncio.gather(*(http.get("/me") for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert requests.count("refresh_token") == 1


async def test_sync_manager_serves_async_client_too(
    pixie: Pixie, api: ProtectedApi, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """One BearerAuth implementation for both clients: a blocking TokenManager under httpx.AsyncClient refreshes
    in a worker thread, still once."""
    client, requests = counted
    manager = client.token_manager(signed_in(client, alice))
    _revoke(pixie, manager.access_token())
    async with httpx.AsyncClient(base_url=api.base, auth=BearerAuth(manager)) as http:
        responses = await asyncio.gather(*(http.get("/me") for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert requests.count("refresh_token") == 1


def test_async_manager_refuses_a_sync_client() -> None:
    async def never(_: TokenSet | None) -> TokenSet:
        raise AssertionError("no token needed")

    auth = BearerAuth(AsyncTokenManager(never))
    with httpx.Client() as http, pytest.raises(TypeError, match="AsyncTokenManager"):
        http.get("http://127.0.0.1:9/", auth=auth)


def _use_across_expiry(http: httpx.Client, manager: TokenManager, seconds: float) -> list[tuple[float, str]]:
    """Call the API every 50 ms for ``seconds``; return (time, access token) each time the token changed."""
    changes: list[tuple[float, str]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = http.get("/me")
        assert response.status_code == 200, response.text
        current = manager.tokens
        assert current is not None
        if not changes or changes[-1][1] != current.access_token:
            changes.append((time.time(), current.access_token))
        time.sleep(0.05)
    return changes


def test_keeps_working_across_expiry_with_one_refresh_per_expiry(
    pixie: Pixie, api: ProtectedApi, alice: Browser
) -> None:
    """Issue 5, "done when": ``short`` issues 3-second access tokens. For 7 seconds, requests every 50 ms never
    meet a 401 (the API checks expiry by introspection), and each token is refreshed exactly once, shortly before
    it expires: refreshes = tokens used - 1, spaced by at least the refresh interval."""
    requests = TokenRequests(f"{pixie.base}/token")
    with httpx.Client(event_hooks={"request": [requests]}) as token_http:
        client = OAuthClient(pixie.issuer, "short", http=token_http)
        # Margin 1.5 s: Pixie's exp is the whole second of issue + 3, so a token may live only 2 s from receipt.
        manager = client.token_manager(signed_in(client, alice), refresh_margin=1.5)
        with httpx.Client(base_url=api.base, auth=BearerAuth(manager)) as http:
            changes = _use_across_expiry(http, manager, 7.0)
    refreshes = requests.count("refresh_token")
    assert 401 not in api.statuses()
    assert refreshes == len(changes) - 1 >= 3
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(changes)]
    assert all(gap >= SHORT_TTL - 1.5 - 0.2 for gap in gaps), gaps


def test_client_credentials_auth_across_expiry(pixie: Pixie, api: ProtectedApi) -> None:
    """ClientCredentialsAuth: a machine client fetches its first token on first use and a new one before each
    expiry, once per expiry."""
    requests = TokenRequests(f"{pixie.base}/token")
    with httpx.Client(event_hooks={"request": [requests]}) as token_http:
        oauth = OAuthClient(pixie.issuer, "svc-short", SVC_SECRET, http=token_http)
        auth = ClientCredentialsAuth(oauth, "properties:read", refresh_margin=1.5)
        with httpx.Client(base_url=api.base, auth=auth) as http:
            assert http.get("/me").json()["client_id"] == "svc-short"
            assert isinstance(auth.manager, TokenManager)
            changes = _use_across_expiry(http, auth.manager, 4.0)
    assert 401 not in api.statuses()
    assert requests.count("client_credentials") == len(changes) >= 3


async def test_client_credentials_auth_async(pixie: Pixie, api: ProtectedApi) -> None:
    """The same auth class on httpx.AsyncClient with an AsyncOAuthClient: 10 concurrent first requests, one
    token request."""
    requests = TokenRequests(f"{pixie.base}/token")
    async with (
        httpx.AsyncClient(event_hooks={"request": [requests.async_hook]}) as token_http,
        AsyncOAuthClient(pixie.issuer, "svc", SVC_SECRET, http=token_http) as oauth,
        httpx.AsyncClient(base_url=api.base, auth=ClientCredentialsAuth(oauth)) as http,
    ):
        responses = await asyncio.gather(*(http.get("/me") for _ in range(10)))
    assert {r.json()["client_id"] for r in responses} == {"svc"}
    assert requests.grants == ["client_credentials"]
