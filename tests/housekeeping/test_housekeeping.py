"""Scheduled key rotation and purging on real storage (issue 4 items 5 and 6)."""

from __future__ import annotations

import asyncio
import dataclasses

from pixie.events import FlowEvent, KeyRotated
from pixie.housekeeping import purge, rotate_due_keys, run_periodically
from pixie.storage.interfaces import Storage
from pixie.storage.records import Tenant, TenantSettings
from pixie.tokens.keys import KeyRing
from pixie.types import KeyState

MASTER = b"h" * 32
DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_rotation_runs_when_the_active_key_is_old_enough(storage: Storage) -> None:
    clock = Clock(1_800_000_000.0)
    ring = KeyRing(storage.keys, MASTER, clock=clock, cache_ttl=0)
    settings = dataclasses.replace(TenantSettings(), key_rotation_days=30, access_token_ttl=600)
    await storage.tenants.create(Tenant(id="sched", display_name="Sched", created_at=clock.now, settings=settings))
    await storage.tenants.create(
        Tenant(
            id="off",
            display_name="Off",
            created_at=clock.now,
            settings=dataclasses.replace(settings, key_rotation_days=0),
        )
    )
    await ring.ensure("sched")
    await ring.ensure("off")
    first = (await ring.signer("sched")).kid

    clock.now += 29 * DAY
    assert await rotate_due_keys(storage, ring) == []
    clock.now += 1 * DAY
    rotated = await rotate_due_keys(storage, ring)
    assert [tenant for tenant, _ in rotated] == ["sched"]
    assert (await ring.signer("sched")).kid == rotated[0][1].activated != first

    # The demoted key stays published for the longest token lifetime (600 s) + 60 s, then is retired.
    clock.now += 659
    await rotate_due_keys(storage, ring)
    states = {k.kid: k.state for k in await ring.list("sched")}
    assert states[first] is KeyState.RETIRING
    clock.now += 2
    await rotate_due_keys(storage, ring)
    states = {k.kid: k.state for k in await ring.list("sched")}
    assert states[first] is KeyState.RETIRED
    assert first not in {k["kid"] for k in (await ring.jwks("sched"))["keys"]}


async def test_purge_counts(storage: Storage) -> None:
    report = await purge(storage, 1_800_000_000.0)
    assert dataclasses.asdict(report) == {
        "authorization_requests": 0,
        "authorization_codes": 0,
        "sso_sessions": 0,
        "refresh_families": 0,
        "denied_access_tokens": 0,
    }


async def test_background_loop_rotates_on_schedule_and_cancels_cleanly(storage: Storage) -> None:
    """The periodic task rotates keys that are due without being asked, and stops when cancelled."""
    clock = Clock(1_800_000_000.0)
    ring = KeyRing(storage.keys, MASTER, clock=clock, cache_ttl=0)
    settings = dataclasses.replace(TenantSettings(), key_rotation_days=1)
    await storage.tenants.create(Tenant(id="loop", display_name="Loop", created_at=clock.now, settings=settings))
    await ring.ensure("loop")
    clock.now += 2 * DAY
    seen: list[FlowEvent] = []

    class Recorder:
        def emit(self, event: FlowEvent) -> None:
            seen.append(event)

    task = asyncio.create_task(run_periodically(storage, ring, 0.01, clock=clock, events=Recorder()))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if len(await ring.list("loop")) == 3 and seen:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert sorted(k.state for k in await ring.list("loop")) == [KeyState.ACTIVE, KeyState.NEXT, KeyState.RETIRING]
    active = (await ring.signer("loop")).kid
    rotations = [event for event in seen if isinstance(event, KeyRotated) and event.tenant_id == "loop"]
    assert [event.kid for event in rotations] == [active], "one key_rotated event naming the new active key"
