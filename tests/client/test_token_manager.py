"""TokenManager / AsyncTokenManager against the real Pixie server: early refresh, single-flight under 50 threads and
50 asyncio tasks, the rotated refresh token kept, a dead refresh token forgotten (issue 5, item 5)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from client.support import APP_CB, TokenRequests, family, follow_to_callback, signed_in
from pixie.client import (
    AsyncOAuthClient,
    FileTokenStore,
    MemoryTokenStore,
    OAuthClient,
    ServerRefused,
    TokenManager,
    TokenSet,
)
from spec.support import Browser, Pixie

CALLERS = 50


@pytest.fixture
def counted(pixie: Pixie) -> Iterator[tuple[OAuthClient, TokenRequests]]:
    """A client of ``cli`` whose token requests are counted on the wire."""
    requests = TokenRequests(f"{pixie.base}/token")
    with httpx.Client(event_hooks={"request": [requests]}) as http:
        yield OAuthClient(pixie.issuer, "cli", http=http), requests


def _expired(tokens: TokenSet) -> TokenSet:
    """The same tokens, as if their access token had expired a second ago (the refresh token is real and live)."""
    return dataclasses.replace(tokens, expires_at=time.time() - 1, issued_at=time.time() - 301)


def test_fresh_token_needs_no_request(counted: tuple[OAuthClient, TokenRequests], alice: Browser) -> None:
    client, requests = counted
    tokens = signed_in(client, alice)
    manager = client.token_manager(tokens)
    assert manager.access_token() == tokens.access_token
    assert requests.count("refresh_token") == 0


def test_refreshes_early(counted: tuple[OAuthClient, TokenRequests], alice: Browser) -> None:
    """60 s before expiry by default: a token with 30 s left (of 300) is replaced before anyone uses it."""
    client, requests = counted
    tokens = signed_in(client, alice)
    almost = dataclasses.replace(tokens, expires_at=time.time() + 30, issued_at=time.time() - 270)
    manager = client.token_manager(almost)
    assert manager.access_token() != tokens.access_token
    assert requests.count("refresh_token") == 1
    assert manager.tokens is not None and manager.tokens.refresh_token != tokens.refresh_token
    # With a 10-second margin, 30 s left is still fine.
    relaxed = client.token_manager(dataclasses.replace(almost, access_token="kept"), refresh_margin=10)
    assert relaxed.access_token() == "kept"


def test_fifty_threads_cause_one_refresh(
    pixie: Pixie, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """Single flight: 50 threads find the token expired at the same moment; one refreshes, all get its result.
    Server side, the family grew by exactly one token and was not revoked (a second use of the rotated refresh
    token would have revoked it: RFC 9700 §4.14.2)."""
    client, requests = counted
    tokens = signed_in(client, alice)
    manager = client.token_manager(_expired(tokens))
    barrier = threading.Barrier(CALLERS)
    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(manager.access_token())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(results) == CALLERS and len(set(results)) == 1 and results[0] != tokens.access_token
    assert requests.count("refresh_token") == 1
    assert tokens.refresh_token is not None
    assert family(pixie, tokens.refresh_token) == (2, None)


async def test_fifty_tasks_cause_one_refresh(pixie: Pixie, alice: Browser) -> None:
    """The same with 50 asyncio tasks and an AsyncTokenManager (anyio lock)."""
    requests = TokenRequests(f"{pixie.base}/token")
    async with (
        httpx.AsyncClient(event_hooks={"request": [requests.async_hook]}) as http,
        AsyncOAuthClient(pixie.issuer, "cli", http=http) as client,
    ):
        start = await client.start_authorization(APP_CB, "properties:read")
        tokens = await client.complete_authorization(start.transaction, follow_to_callback(alice, start.url))
        manager = client.token_manager(_expired(tokens))
        results = await asyncio.gather(*(manager.access_token() for _ in range(CALLERS)))
    assert len(set(results)) == 1 and results[0] != tokens.access_token
    assert requests.count("refresh_token") == 1
    assert tokens.refresh_token is not None
    assert family(pixie, tokens.refresh_token) == (2, None)


def test_rotated_refresh_token_is_stored_and_used_next(
    pixie: Pixie, counted: tuple[OAuthClient, TokenRequests], alice: Browser
) -> None:
    """Each refresh saves the new refresh token before handing out the access token, and the next refresh
    presents that new one (strict rotation would revoke the family otherwise)."""
    client, requests = counted
    tokens = signed_in(client, alice)
    store = MemoryTokenStore()
    manager = client.token_manager(_expired(tokens), store=store)
    chain = [tokens.refresh_token]
    for _ in range(3):
        manager.refresh()
        saved = store.load()
        assert saved is not None and saved.access_token == manager.access_token()
        chain.append(saved.refresh_token)
    assert len(set(chain)) == 4 and requests.count("refresh_token") == 3
    assert tokens.refresh_token is not None
    assert family(pixie, tokens.refresh_token) == (4, None)


def test_refresh_after_rejection_is_single_flight(counted: tuple[OAuthClient, TokenRequests], alice: Browser) -> None:
    """``refresh(rejected)``: when another caller already replaced the rejected token, no second refresh."""
    client, requests = counted
    manager = client.token_manager(signed_in(client, alice))
    stale = manager.access_token()
    replacement = manager.refresh(stale)
    assert replacement != stale
    assert manager.refresh(stale) == replacement  # a late caller holding the old token
    assert requests.count("refresh_token") == 1


def test_dead_refresh_token_is_forgotten(
    pixie: Pixie, counted: tuple[OAuthClient, TokenRequests], alice: Browser, tmp_path: Path
) -> None:
    """``invalid_grant`` on refresh clears the store (the CLI then signs in again); asking again is LookupError."""
    client, _ = counted
    tokens = signed_in(client, alice)
    client.refresh(tokens)  # rotates: the original refresh token is now spent
    store = FileTokenStore(tmp_path / "tokens.json")
    manager = client.token_manager(_expired(tokens), store=store)
    with pytest.raises(ServerRefused) as refused:
        manager.access_token()
    assert refused.value.error == "invalid_grant"
    assert store.load() is None and manager.tokens is None
    with pytest.raises(LookupError):
        manager.access_token()


def test_empty_manager_says_sign_in_first(counted: tuple[OAuthClient, TokenRequests]) -> None:
    client, requests = counted
    with pytest.raises(LookupError, match="sign in"):
        client.token_manager().access_token()
    assert requests.grants == []


def test_manager_without_refresh_token() -> None:
    """A token set without a refresh token cannot be renewed: LookupError, no request."""
    calls: list[TokenSet | None] = []

    def refresher(current: TokenSet | None) -> TokenSet:
        calls.append(current)
        raise LookupError("no refresh token")

    manager = TokenManager(refresher, tokens=TokenSet("a", "Bearer", expires_at=time.time() - 5, issued_at=0))
    with pytest.raises(LookupError):
        manager.access_token()
    assert len(calls) == 1 and manager.tokens is not None  # not invalid_grant: the tokens are kept
