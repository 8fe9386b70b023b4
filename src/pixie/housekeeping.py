"""Housekeeping: purge what has expired and rotate signing keys on schedule.

Runs as a background task of each server (:func:`run_periodically`) and on demand (``pixie db purge``). Every step
is a short, bounded database statement, so request handling never waits on it for long; several instances may run
it at once (purges are idempotent; see ``rotate_due_keys`` for rotation).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from pixie.events import EventSink, KeyRotated
from pixie.storage.interfaces import Storage
from pixie.tokens.keys import KeyRing, RotationReport
from pixie.types import TenantId, Timestamp

__all__ = [
    "DIRECTORY_CHANGES_KEPT",
    "PurgeReport",
    "purge",
    "remove_idle_registered_clients",
    "retire_after_for",
    "rotate_due_keys",
    "run_periodically",
]

log = logging.getLogger("pixie.housekeeping")

DIRECTORY_CHANGES_KEPT = 3600.0
"""Seconds a directory change is kept for the servers' caches to read (they read every second)."""


@dataclass(frozen=True)
class PurgeReport:
    authorization_requests: int
    authorization_codes: int
    sso_sessions: int
    admin_sessions: int
    refresh_families: int
    denied_access_tokens: int
    dpop_proofs: int
    pushed_requests: int
    events: int
    registration_tokens: int = 0
    idle_registered_clients: int = 0
    directory_changes: int = 0


async def purge(storage: Storage, now: Timestamp, *, events_retention_days: float = 0) -> PurgeReport:
    """Delete expired pending requests, codes, SSO sessions, dashboard sessions (expired or ended), refresh families,
    deny-list entries, remembered DPoP proofs, unused pushed requests and expired initial access tokens, flow
    events older than ``events_retention_days`` (0 keeps them), idle self-registered clients, and directory changes
    older than :data:`DIRECTORY_CHANGES_KEPT`, across all tenants."""
    return PurgeReport(
        authorization_requests=await storage.requests.purge_expired(now),
        authorization_codes=await storage.codes.purge_expired(now),
        sso_sessions=await storage.sessions.purge_expired(now),
        admin_sessions=await storage.admin_sessions.purge_expired(now),
        refresh_families=await storage.refresh.purge_expired(now),
        denied_access_tokens=await storage.denylist.purge_expired(now),
        dpop_proofs=await storage.proofs.purge_expired(now),
        pushed_requests=await storage.pushed.purge_expired(now),
        events=(await storage.events.purge_before(now - events_retention_days * 86400) if events_retention_days else 0),
        registration_tokens=await storage.registration_tokens.purge_expired(now),
        idle_registered_clients=await remove_idle_registered_clients(storage, now),
        # Last, after the deletions above wrote theirs: every server reads the feed each second, so an hour is ample.
        directory_changes=await storage.changes.purge_before(now - DIRECTORY_CHANGES_KEPT),
    )


async def remove_idle_registered_clients(storage: Storage, now: Timestamp, *, batch: int = 500) -> int:
    """Delete self-registered clients (RFC 7591) that received no token for their tenant's
    ``registration_idle_days`` (never used: counted from registration), with everything issued to them.

    Tenant by tenant, at most ``batch`` per tenant and round (the next round takes the rest), so a busy open
    registration endpoint cannot grow the database without bound and one round stays short.
    Spec: RFC 7591 §5 (an open registration endpoint and resource exhaustion)."""
    removed = 0
    for tenant in await storage.tenants.list():
        before = now - tenant.settings.registration_idle_days * 86400.0
        for client in await storage.clients.list_idle_registered(tenant.id, before, limit=batch):
            if await storage.clients.delete(tenant.id, client.client_id, now) is not None:
                removed += 1
    return removed


async def retire_after_for(storage: Storage, tenant_id: TenantId, default_ttl: int) -> float:
    """How long a demoted key must stay published: the longest access-token lifetime of the tenant, plus a
    minute of clock leeway, so no live token ever loses its key."""
    ttls = [c.access_token_ttl for c in await storage.clients.list(tenant_id) if c.access_token_ttl]
    return float(max([default_ttl, *ttls]) + 60)


async def rotate_due_keys(storage: Storage, keyring: KeyRing) -> list[tuple[TenantId, RotationReport]]:
    """Rotate the keys of every enabled tenant whose active key is older than ``key_rotation_days``, and retire
    demoted keys whose tokens have all expired.

    Every instance runs this; of instances deciding at the same instant exactly one rotates (see
    :meth:`KeyRing.rotate_if_due`), so no key becomes active before it was published as ``next``.
    """
    rotated: list[tuple[TenantId, RotationReport]] = []
    for tenant in await storage.tenants.list():
        if tenant.disabled:
            continue
        retire_after = await retire_after_for(storage, tenant.id, tenant.settings.access_token_ttl)
        report = await keyring.rotate_if_due(
            tenant.id,
            tenant.settings.key_rotation_days * 86400,
            alg=tenant.settings.signing_alg,
            retire_after=retire_after,
        )
        if report is not None:
            log.info("rotated signing keys of tenant %s: %s is active", tenant.id, report.activated)
            rotated.append((tenant.id, report))
        else:
            await keyring.retire_expired(tenant.id, retire_after=retire_after)
    return rotated


async def run_periodically(
    storage: Storage,
    keyring: KeyRing,
    interval: float,
    *,
    clock: Callable[[], float] = time.time,
    events: EventSink | None = None,
    events_retention_days: float = 0,
) -> None:
    """Forever: wait about ``interval`` seconds (jittered so instances spread out), then purge and rotate (each
    rotation reported to ``events``). Faults are logged and retried next round; cancellation ends the loop."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311  (jitter, not a secret)
        try:
            report = await purge(storage, clock(), events_retention_days=events_retention_days)
            for tenant_id, rotation in await rotate_due_keys(storage, keyring):
                if events is not None:
                    events.emit(KeyRotated(tenant_id=tenant_id, kid=rotation.activated))
            log.debug("housekeeping: %s", report)
        except Exception:
            log.exception("housekeeping round failed; will retry")
