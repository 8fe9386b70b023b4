"""Read-through caches in front of a store, for the hot paths (every token request looks its client up).

Staleness bound: a change made elsewhere (another instance, the CLI) is seen within ``ttl`` seconds; a change made
through the cached store itself is seen at once. Only hits are cached, so a newly registered client is usable
immediately. A disabled client or a new secret therefore takes at most ``ttl`` seconds (5 by default) to apply on
an instance that has the client cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pixie.storage.interfaces import ClientStore
from pixie.storage.records import Client, EndedAccess
from pixie.types import TenantId, Timestamp

__all__ = ["CachedClientStore"]


class CachedClientStore:
    """A :class:`ClientStore` that remembers found clients for ``ttl`` seconds."""

    def __init__(
        self,
        inner: ClientStore,
        *,
        ttl: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[tuple[TenantId, str], tuple[float, Client]] = {}

    async def create(self, client: Client) -> None:
        await self._inner.create(client)
        self._entries.pop((client.tenant_id, client.client_id), None)

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        key = (tenant_id, client_id)
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        client = await self._inner.get(tenant_id, client_id)
        if client is None:
            self._entries.pop(key, None)
            return None
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # bounded memory; a cold cache only costs reads
        self._entries[key] = (now + self._ttl, client)
        return client

    async def list(self, tenant_id: TenantId) -> list[Client]:
        return await self._inner.list(tenant_id)

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        changed = await self._inner.set_disabled(tenant_id, client_id, disabled)
        self._entries.pop((tenant_id, client_id), None)
        return changed

    async def update(self, client: Client) -> bool:
        changed = await self._inner.update(client)
        self._entries.pop((client.tenant_id, client.client_id), None)
        return changed

    async def end_access(self, tenant_id: TenantId, client_id: str, reason: str, now: Timestamp) -> EndedAccess:
        return await self._inner.end_access(tenant_id, client_id, reason, now)

    async def delete(self, tenant_id: TenantId, client_id: str, now: Timestamp) -> EndedAccess | None:
        deleted = await self._inner.delete(tenant_id, client_id, now)
        self._entries.pop((tenant_id, client_id), None)
        return deleted
