"""The directory-change feed (migration 0010) and the caches that follow it (``pixie.storage.cache``).

The feed is written by triggers, so every test changes records the way another instance or the CLI would: through
the stores (or SQL), never through the caches under test.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
import sqlalchemy as sa

from pixie.housekeeping import DIRECTORY_CHANGES_KEPT, purge
from pixie.storage.cache import CachedClientStore, DirectoryWatch, RecentCache
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, DirectoryChange, Tenant
from pixie.storage.schema import create_engine
from pixie.tenancy import TenantResolver
from pixie.tokens.keys import KeyRing
from pixie.types import KeyState

from . import factories as f
from .factories import NOW, TENANT


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tenant(name: str = TENANT) -> Tenant:
    return Tenant(id=name, display_name=name.title(), created_at=NOW)


async def _changes_since(storage: Storage, start: int) -> list[tuple[str, str, str]]:
    return [(c.tenant_id, c.kind, c.name) for c in await storage.changes.after(start)]


async def test_triggers_record_every_tenant_client_and_key_change(storage: Storage) -> None:
    start = await storage.changes.latest()
    await storage.tenants.create(_tenant())
    await storage.tenants.set_disabled(TENANT, True)
    await storage.clients.create(f.client())
    await storage.clients.set_disabled(TENANT, "spa", True)
    await storage.keys.add(f.signing_key())
    await storage.keys.set_state(TENANT, "kid-1", KeyState.ACTIVE, NOW)
    await storage.clients.delete(TENANT, "spa", NOW)
    await storage.users.create(f.user())  # users are not cached: not in the feed
    assert await _changes_since(storage, start) == [
        (TENANT, "tenant", ""),
        (TENANT, "tenant", ""),
        (TENANT, "client", "spa"),
        (TENANT, "client", "spa"),
        (TENANT, "key", ""),
        (TENANT, "key", ""),
        (TENANT, "client", "spa"),
    ]
    changes = await storage.changes.after(start)
    assert [c.id for c in changes] == sorted(c.id for c in changes)
    assert await storage.changes.latest() == changes[-1].id
    assert [c.id for c in await storage.changes.after(changes[2].id, limit=2)] == [c.id for c in changes[3:5]]


async def test_purge_removes_only_older_changes(storage: Storage) -> None:
    await storage.tenants.create(_tenant())
    latest = await storage.changes.latest()
    assert await storage.changes.purge_before(time.time() - 3600) == 0  # written just now
    assert await storage.changes.latest() == latest
    assert await storage.changes.purge_before(time.time() + 60) >= 1
    assert await storage.changes.after(0) == []
    # Ids only grow, even after the newest rows were deleted: a watcher's position stays meaningful.
    await storage.tenants.set_disabled(TENANT, True)
    assert await storage.changes.latest() > latest


async def test_housekeeping_purges_changes_older_than_an_hour(storage: Storage) -> None:
    await storage.tenants.create(_tenant())
    assert (await purge(storage, time.time())).directory_changes == 0
    assert await storage.changes.after(0) != []
    assert (await purge(storage, time.time() + DIRECTORY_CHANGES_KEPT + 1)).directory_changes >= 1
    assert await storage.changes.after(0) == []


async def test_caches_follow_changes_made_elsewhere(storage: Storage) -> None:
    watch = DirectoryWatch(storage.changes)
    await watch.start()
    tenants = TenantResolver(storage.tenants, ttl=600, watch=watch)
    clients = CachedClientStore(storage.clients, ttl=600, watch=watch)
    ring = KeyRing(storage.keys, b"m" * 32)
    ring.follow(watch)
    await storage.tenants.create(_tenant())
    await storage.clients.create(f.client())
    await ring.ensure(TENANT)
    assert await watch.poll() >= 4  # the creations above: a tenant, a client, two keys, a state change
    signer = await ring.signer(TENANT)
    assert await tenants.resolve(TENANT) is not None
    assert await clients.get(TENANT, "spa") is not None

    await storage.tenants.set_disabled(TENANT, True)  # another instance, or the CLI
    await storage.clients.set_disabled(TENANT, "spa", True)
    await ring.rotate(TENANT)  # through the store: the ring drops its own entries at once anyway
    other_ring = KeyRing(storage.keys, b"m" * 32)
    await other_ring.rotate(TENANT)  # another instance's rotation
    assert await tenants.resolve(TENANT) is not None, "served from the cache until the feed is read"
    cached = await clients.get(TENANT, "spa")
    assert cached is not None and not cached.disabled
    assert await watch.poll() >= 2
    assert await tenants.resolve(TENANT) is None
    found = await clients.get(TENANT, "spa")
    assert found is not None and found.disabled
    rotated = await ring.signer(TENANT)
    assert rotated.kid != signer.kid
    assert rotated.kid == (await other_ring.signer(TENANT)).kid
    assert await watch.poll() == 0  # nothing new


async def test_a_read_overtaken_by_a_change_is_not_kept(storage: Storage) -> None:
    """A record read just before a change committed, and returned after the change was applied, stays uncached."""
    await storage.clients.create(f.client())
    watch = DirectoryWatch(storage.changes)
    await watch.start()
    read_started = asyncio.Event()
    release = asyncio.Event()

    real_get = storage.clients.get

    async def slow_get(tenant_id: str, client_id: str) -> Client | None:
        found = await real_get(tenant_id, client_id)
        read_started.set()
        await release.wait()
        return found

    storage.clients.get = slow_get  # type: ignore[method-assign]
    clients = CachedClientStore(storage.clients, ttl=600, watch=watch)
    reading = asyncio.create_task(clients.get(TENANT, "spa"))
    await read_started.wait()
    await storage.clients.set_disabled(TENANT, "spa", True)
    assert await watch.poll() == 1
    release.set()
    stale = await reading
    assert stale is not None and not stale.disabled  # what was read, returned...
    storage.clients.get = real_get  # type: ignore[method-assign]
    fresh = await clients.get(TENANT, "spa")
    assert fresh is not None and fresh.disabled  # ...but not kept


async def test_caches_read_through_when_the_feed_is_not_read(storage: Storage) -> None:
    clock = Clock()
    watch = DirectoryWatch(storage.changes, trust_for=10, clock=clock)
    await watch.start()
    tenants = TenantResolver(storage.tenants, ttl=600, watch=watch)
    await storage.tenants.create(_tenant())
    assert await tenants.resolve(TENANT) is not None
    await storage.tenants.set_disabled(TENANT, True)
    clock.now += 9
    assert await tenants.resolve(TENANT) is not None  # trusted: cached
    clock.now += 2  # no successful read for 11 s: the feed may have missed anything
    assert await tenants.resolve(TENANT) is None
    await storage.tenants.set_disabled(TENANT, False)
    assert await tenants.resolve(TENANT) is not None  # read through again
    dropped: list[DirectoryChange | None] = []
    watch.subscribe(dropped.append)
    await watch.poll()
    assert dropped[-1] is None, "after a time unread, everything is dropped"


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_change_committed_out_of_order_is_not_missed(storage: Storage, database_url: str) -> None:
    """PostgreSQL may commit a later change id first: the watcher remembers the skipped id and looks again."""
    watch = DirectoryWatch(storage.changes)
    await watch.start()
    seen: list[str] = []
    watch.subscribe(lambda change: seen.append(change.tenant_id if change else "*"))
    engine = create_engine(database_url)
    insert = sa.text(
        "INSERT INTO tenants (tenant_id, display_name, created_at, disabled, settings) "
        "VALUES (:name, :name, 0, false, '{}')"
    )
    first, second = "slow-" + secrets.token_hex(3), "quick-" + secrets.token_hex(3)
    try:
        async with engine.connect() as slow:
            await slow.begin()
            await slow.execute(insert, {"name": first})  # takes the lower id, commits later
            async with engine.begin() as quick:
                await quick.execute(insert, {"name": second})
            assert await watch.poll() == 1
            assert seen == [second]
            await slow.commit()
        assert await watch.poll() == 1
        assert seen == [second, first]
        assert await watch.poll() == 0
    finally:
        await engine.dispose()


def test_recent_cache_evicts_least_recently_used() -> None:
    clock = Clock()
    cache: RecentCache[str, int] = RecentCache(ttl=10, max_entries=2, clock=clock)
    cache.put("a", 1, cache.epoch())
    cache.put("b", 2, cache.epoch())
    assert cache.get("a") == (1,)  # a is now the most recently used
    cache.put("c", 3, cache.epoch())
    assert cache.get("b") is None and cache.get("a") == (1,) and cache.get("c") == (3,)
    clock.now += 10
    assert cache.get("a") is None and len(cache) == 1
