"""Tenants: names, issuers and a cached resolver.

The default tenant is served at the bare base URL; every other tenant at ``{base}/t/{name}`` and that URL is its
issuer. Resolution is cached for ``ttl`` seconds (so a tenant disabled on another instance stops being served within
that bound) and invalidated at once for changes made through this instance.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from pixie.storage.interfaces import TenantStore
from pixie.storage.records import Tenant
from pixie.types import TenantId, Timestamp

__all__ = ["DEFAULT_TENANT", "TenantResolver", "issuer_for", "validate_tenant_name"]

DEFAULT_TENANT: TenantId = "default"
_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def validate_tenant_name(name: str) -> str:
    """Tenant names are DNS-label-like (lowercase letters, digits, inner hyphens, 1–63 chars): they appear in URLs."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"tenant name {name!r} must be 1-63 lowercase letters, digits or inner hyphens")
    return name


def issuer_for(base: str, tenant_id: TenantId) -> str:
    """The issuer identifier of a tenant (RFC 8414 §2)."""
    base = base.rstrip("/")
    return base if tenant_id == DEFAULT_TENANT else f"{base}/t/{tenant_id}"


class TenantResolver:
    """Looks tenants up by name with a short positive and negative cache."""

    def __init__(self, store: TenantStore, *, ttl: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[TenantId, tuple[Timestamp, Tenant | None]] = {}

    async def resolve(self, tenant_id: TenantId) -> Tenant | None:
        """The enabled tenant with this name, or None (unknown or disabled)."""
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > now:
            tenant = cached[1]
        else:
            tenant = await self._store.get(tenant_id) if _NAME_RE.fullmatch(tenant_id) else None
            self._cache[tenant_id] = (now + self._ttl, tenant)
        return tenant if tenant is not None and not tenant.disabled else None

    def invalidate(self, tenant_id: TenantId | None = None) -> None:
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)
