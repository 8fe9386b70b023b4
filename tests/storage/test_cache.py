"""The client cache of the hot path: hits are served for ttl seconds, changes through it apply at once."""

from __future__ import annotations

from pixie.storage.cache import CachedClientStore
from pixie.storage.interfaces import Storage

from . import factories as f
from .factories import TENANT


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_cache_serves_hits_until_ttl_and_never_caches_misses(storage: Storage) -> None:
    clock = Clock()
    cached = CachedClientStore(storage.clients, ttl=5, clock=clock)
    assert await cached.get(TENANT, "spa") is None
    await storage.clients.create(f.client())  # created behind the cache's back: a miss was not remembered
    first = await cached.get(TENANT, "spa")
    assert first is not None and not first.disabled
    await storage.clients.set_disabled(TENANT, "spa", True)  # another instance disables it
    assert (await cached.get(TENANT, "spa")) == first  # stale within the bound
    clock.now += 5.1
    refreshed = await cached.get(TENANT, "spa")
    assert refreshed is not None and refreshed.disabled


async def test_changes_through_the_cache_apply_at_once(storage: Storage) -> None:
    cached = CachedClientStore(storage.clients, ttl=60)
    await cached.create(f.client())
    assert (await cached.get(TENANT, "spa")) is not None
    assert await cached.set_disabled(TENANT, "spa", True)
    found = await cached.get(TENANT, "spa")
    assert found is not None and found.disabled
    assert [c.client_id for c in await cached.list(TENANT)] == ["spa"]
