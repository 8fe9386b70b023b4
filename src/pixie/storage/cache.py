"""Caches in front of the directory (tenants, clients, signing keys) for the hot paths, and the watch that keeps
them true across instances.

Every request resolves its tenant, most look a client up, and every token is signed with the tenant's key. A
:class:`RecentCache` keeps those records, bounded by entries (least recently used first out), so that a server
with thousands of tenants keeps every one it serves warm.

How a change made elsewhere (another instance, the CLI, SQL by hand) reaches a cache:

- With a :class:`DirectoryWatch` (what ``pixie serve`` runs): triggers write every insert, update and delete of a
  tenant, client or key to ``directory_changes`` (migration 0010); the watch reads what was added each
  ``interval`` (1 s) and drops just those entries. Entries then live until they are changed, evicted or
  ``ttl`` old (a long bound, for safety). If the feed cannot be read for ``trust_for`` seconds, the caches answer
  from the database until it can again, and then start over empty.
- Without one (a cache built alone, as in a script): entries expire ``ttl`` seconds after they were read.

A change made through the cached object itself applies at once in both cases.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from pixie.storage.interfaces import ClientStore, DirectoryChanges
from pixie.storage.records import Client, DirectoryChange, EndedAccess
from pixie.types import TenantId, Timestamp

__all__ = ["CachedClientStore", "DirectoryWatch", "RecentCache"]

log = logging.getLogger("pixie.storage")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Listener = Callable[[DirectoryChange | None], None]
"""Told of each change read from the feed; None means "anything may have changed": drop everything."""


class DirectoryWatch:
    """Follows ``directory_changes`` and tells the caches what changed.

    Change ids are handed out in the order changes are written, but on PostgreSQL two transactions may commit in the
    other order: a reader can see id 11 before id 10 exists for it. An id skipped over is therefore remembered as a
    hole and looked for again on every read for ``hole_wait`` seconds (a rolled-back change leaves a hole that is
    never filled). SQLite writes one transaction at a time, so its ids commit in order.

    :attr:`epoch` grows with every change applied. A cache notes it before reading the database and keeps what it
    read only if it has not moved: a record read just before a change committed, and stored just after the change
    was applied, would otherwise stay stale.
    """

    def __init__(
        self,
        changes: DirectoryChanges,
        *,
        interval: float = 1.0,
        trust_for: float = 10.0,
        hole_wait: float = 120.0,
        page: int = 1000,
        max_holes: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._changes = changes
        self.interval = interval
        self._trust_for = trust_for
        self._hole_wait = hole_wait
        self._page = page
        self._max_holes = max_holes
        self._clock = clock
        self._listeners: list[Listener] = []
        self._watermark = 0
        self._holes: dict[int, float] = {}
        self._read_at: float | None = None
        self.epoch = 0

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def trusted(self) -> bool:
        """True while the feed has been read within ``trust_for`` seconds: cached entries may be served."""
        return self._read_at is not None and self._clock() - self._read_at < self._trust_for

    async def start(self) -> None:
        """Begin after the newest change: the caches start empty, so nothing before it matters."""
        self._watermark = await self._changes.latest()
        self._holes.clear()
        self._read_at = self._clock()

    async def poll(self) -> int:
        """Read the changes added since the last read (and any holes) and apply them; how many were applied."""
        if self._read_at is None:
            await self.start()
            return 0
        was_trusted = self.trusted()
        now = self._clock()
        applied = 0
        start_over = False
        cursor = min(self._holes) - 1 if self._holes else self._watermark
        while True:
            found = await self._changes.after(cursor, limit=self._page)
            for change in found:
                if change.id > self._watermark:
                    skipped = change.id - self._watermark - 1
                    if skipped + len(self._holes) > self._max_holes:
                        start_over = True
                    else:
                        self._holes.update(dict.fromkeys(range(self._watermark + 1, change.id), now))
                    self._watermark = change.id
                elif self._holes.pop(change.id, None) is None:
                    continue  # read before
                self._apply(change)
                applied += 1
            if len(found) < self._page:
                break
            cursor = found[-1].id
        for hole in [hole for hole, since in self._holes.items() if now - since > self._hole_wait]:
            del self._holes[hole]
        if start_over or not was_trusted:
            # Too many holes to follow, or a time when the feed was not read (its oldest rows may be purged since).
            self._holes.clear()
            self._apply(None)
        self._read_at = now
        return applied

    async def run(self) -> None:
        """Poll every ``interval`` seconds until cancelled; a failed read is logged and retried."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception:  # the database may be briefly away; caches read through meanwhile
                log.warning("could not read directory changes; caches read the database until it can", exc_info=True)

    def _apply(self, change: DirectoryChange | None) -> None:
        self.epoch += 1
        for listener in self._listeners:
            listener(change)


@dataclasses.dataclass(frozen=True)
class _Entry(Generic[V]):
    expires_at: float
    value: V


class RecentCache(Generic[K, V]):
    """Up to ``max_entries`` values, least recently used evicted first, each kept at most ``ttl`` seconds; with a
    ``watch``, served only while the watch is trusted (see the module's docstring)."""

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        watch: DirectoryWatch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._watch = watch
        self._clock = clock
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> tuple[V] | None:
        """``(value,)`` when cached and fresh (a value may itself be None), else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock() or (self._watch is not None and not self._watch.trusted()):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return (entry.value,)

    def epoch(self) -> int:
        """Note this before reading what :meth:`put` will store."""
        return self._watch.epoch if self._watch is not None else 0

    def put(self, key: K, value: V, epoch: int) -> None:
        """Keep ``value``, unless a change was applied since ``epoch`` was noted (the value may predate it)."""
        if epoch != self.epoch():
            return
        self._entries[key] = _Entry(self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def replace(self, key: K, value: V) -> None:
        """Change a cached value in place (keeping its age); nothing when it is not cached."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = _Entry(entry.expires_at, value)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class CachedClientStore:
    """A :class:`ClientStore` that remembers found clients (misses are never cached, so a newly registered client is
    usable at once)."""

    def __init__(
        self,
        inner: ClientStore,
        *,
        ttl: float = 5.0,
        max_entries: int = 50_000,
        watch: DirectoryWatch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._entries: RecentCache[tuple[TenantId, str], Client] = RecentCache(
            ttl=ttl, max_entries=max_entries, watch=watch, clock=clock
        )
        if watch is not None:
            watch.subscribe(self._changed)

    def _changed(self, change: DirectoryChange | None) -> None:
        if change is None:
            self._entries.clear()
        elif change.kind == "client":
            self._entries.discard((change.tenant_id, change.name))

    async def create(self, client: Client) -> None:
        await self._inner.create(client)
        self._entries.discard((client.tenant_id, client.client_id))

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        key = (tenant_id, client_id)
        hit = self._entries.get(key)
        if hit is not None:
            return hit[0]
        epoch = self._entries.epoch()
        client = await self._inner.get(tenant_id, client_id)
        if client is not None:
            self._entries.put(key, client, epoch)
        return client

    async def list(self, tenant_id: TenantId) -> builtins.list[Client]:
        return await self._inner.list(tenant_id)

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        changed = await self._inner.set_disabled(tenant_id, client_id, disabled)
        self._entries.discard((tenant_id, client_id))
        return changed

    async def update(self, client: Client) -> bool:
        changed = await self._inner.update(client)
        self._entries.discard((client.tenant_id, client.client_id))
        return changed

    async def touch(self, tenant_id: TenantId, client_id: str, now: Timestamp, *, every: float = 3600.0) -> None:
        """Write through, and mark the cached record as just used, so the requests that follow (which check
        ``last_used_at`` first) do not write again within ``every`` seconds."""
        await self._inner.touch(tenant_id, client_id, now, every=every)
        hit = self._entries.get((tenant_id, client_id))
        if hit is not None:
            self._entries.replace((tenant_id, client_id), dataclasses.replace(hit[0], last_used_at=now))

    async def list_idle_registered(
        self, tenant_id: TenantId, before: Timestamp, *, limit: int = 500
    ) -> builtins.list[Client]:
        return await self._inner.list_idle_registered(tenant_id, before, limit=limit)

    async def end_access(self, tenant_id: TenantId, client_id: str, reason: str, now: Timestamp) -> EndedAccess:
        return await self._inner.end_access(tenant_id, client_id, reason, now)

    async def delete(self, tenant_id: TenantId, client_id: str, now: Timestamp) -> EndedAccess | None:
        deleted = await self._inner.delete(tenant_id, client_id, now)
        self._entries.discard((tenant_id, client_id))
        return deleted
