"""N simultaneous refreshes of one token, on SQLite and PostgreSQL (issue 4, RFC 9700 §4.14.2).

Strict (grace 0): exactly one rotation; the other N-1 are reuse, which revokes the family (and so the winner's new
tokens too). Grace window: exactly one rotation, and all N callers receive the very same new pair; the family lives.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pixie.errors import InvalidGrant
from pixie.events import FlowEvent, RefreshReuseDetected, RefreshRotated
from pixie.management import create_user, register_client
from pixie.server.grants.refresh_token import ReuseDetected, refresh
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, RefreshFamily, RefreshToken, Tenant
from pixie.tokens.issuer import TokenIssuer, new_opaque_secret
from pixie.tokens.keys import KeyRing


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[FlowEvent] = []

    def emit(self, event: FlowEvent) -> None:
        self.events.append(event)


SINK = RecordingSink()
N = 20
MASTER = b"c" * 32
ISSUER = "http://127.0.0.1:8000"


async def _setup(storage: Storage, grace: int) -> tuple[Tenant, Client, TokenIssuer, str]:
    tenant = Tenant(id="default", display_name="Default", created_at=time.time())
    await storage.tenants.create(tenant)
    ring = KeyRing(storage.keys, MASTER)
    await ring.ensure(tenant.id)
    created = await register_client(
        storage,
        tenant.id,
        "spa",
        redirect_uris=["http://127.0.0.1/cb"],
        public=True,
        scopes=["a", "b"],
        refresh_grace_seconds=grace,
    )
    user = await create_user(storage, tenant.id, "alice", "alice-password")
    now = time.time()
    family = RefreshFamily(
        tenant_id=tenant.id,
        family_id="fam-1",
        client_id="spa",
        user_id=user.user_id,
        scopes=("a", "b"),
        auth_time=now,
        created_at=now,
        absolute_expires_at=now + 3600,
    )
    secret = new_opaque_secret()
    first = RefreshToken(
        tenant_id=tenant.id,
        token_hash=secret.digest,
        family_id="fam-1",
        scopes=("a", "b"),
        created_at=now,
        expires_at=now + 3600,
    )
    await storage.refresh.create_family(family, first)
    return tenant, created.client, TokenIssuer(ring), secret.value


async def _refresh(
    storage: Storage, tenant: Tenant, client: Client, tokens: TokenIssuer, token: str, now: float | None = None
) -> dict[str, object]:
    return await refresh(
        {"refresh_token": token},
        client=client,
        tenant=tenant,
        issuer=ISSUER,
        storage=storage,
        tokens=tokens,
        events=SINK,
        now=time.time() if now is None else now,
    )


async def _race(storage: Storage, tenant: Tenant, client: Client, tokens: TokenIssuer, token: str) -> list[object]:
    async def one() -> object:
        try:
            return await _refresh(storage, tenant, client, tokens, token)
        except InvalidGrant as exc:
            return exc

    return list(await asyncio.gather(*(one() for _ in range(N))))


async def test_strict_concurrent_refresh_rotates_once_and_revokes_on_reuse(storage: Storage) -> None:
    tenant, client, tokens, token = await _setup(storage, grace=0)
    results = await _race(storage, tenant, client, tokens, token)
    successes = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, InvalidGrant)]
    assert len(successes) == 1, results
    # Every loser is refused: the first ones detect the reuse, later ones find the family already revoked.
    assert len(refused) == N - 1
    assert any(isinstance(r, ReuseDetected) for r in refused)
    reuse_events = [e for e in SINK.events if isinstance(e, RefreshReuseDetected) and e.tenant_id == tenant.id]
    assert reuse_events and all(e.family_id == "fam-1" for e in reuse_events)
    family = await storage.refresh.get_family(tenant.id, "fam-1")
    assert family is not None and family.revoked_at is not None and family.revoked_reason == "refresh_reuse"
    # No lost update: exactly one successor was written, and it is dead with its family.
    winner = successes[0]
    assert isinstance(winner, dict)
    with pytest.raises(InvalidGrant):
        await _refresh(storage, tenant, client, tokens, winner["refresh_token"])


async def test_grace_window_gives_every_concurrent_caller_the_same_pair(storage: Storage) -> None:
    tenant, client, tokens, token = await _setup(storage, grace=30)
    results = await _race(storage, tenant, client, tokens, token)
    assert all(isinstance(r, dict) for r in results), results
    pairs = {(r["access_token"], r["refresh_token"]) for r in results if isinstance(r, dict)}
    assert len(pairs) == 1
    family = await storage.refresh.get_family(tenant.id, "fam-1")
    assert family is not None and family.revoked_at is None
    assert len([e for e in SINK.events if isinstance(e, RefreshRotated) and e.tenant_id == tenant.id]) >= 1
    # The one successor works: the family has a single live branch.
    (access, successor) = pairs.pop()
    following = await _refresh(storage, tenant, client, tokens, successor)
    assert following["refresh_token"] != successor and following["access_token"] != access


async def test_grace_window_does_not_cover_a_retry_after_the_window(storage: Storage) -> None:
    tenant, client, tokens, token = await _setup(storage, grace=5)
    first = await _refresh(storage, tenant, client, tokens, token)
    assert "refresh_token" in first
    with pytest.raises(ReuseDetected):
        await _refresh(storage, tenant, client, tokens, token, now=time.time() + 6)
