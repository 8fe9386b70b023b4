"""Scheduled key rotation and purging on real storage (issue 4 items 5 and 6)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time

import pytest

from pixie.config import ConfigError, Settings
from pixie.events import FlowEvent, KeyRotated, TokenIssued
from pixie.housekeeping import purge, rotate_due_keys, run_periodically
from pixie.storage.interfaces import Storage
from pixie.storage.records import AdminSession, Tenant, TenantSettings
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
    report = await purge(storage, time.time())  # directory changes written by the fixture's cleaning are kept
    assert dataclasses.asdict(report) == {
        "authorization_requests": 0,
        "authorization_codes": 0,
        "sso_sessions": 0,
        "admin_sessions": 0,
        "refresh_families": 0,
        "denied_access_tokens": 0,
        "dpop_proofs": 0,
        "pushed_requests": 0,
        "events": 0,
        "registration_tokens": 0,
        "idle_registered_clients": 0,
        "directory_changes": 0,
    }


async def test_purge_forgets_dpop_proofs_whose_window_passed(storage: Storage) -> None:
    now = 1_800_000_000.0
    await storage.proofs.first_use("default", "old", now - 1)
    await storage.proofs.first_use("default", "live", now + 30)
    assert (await purge(storage, now)).dpop_proofs == 1
    assert not await storage.proofs.first_use("default", "live", now + 30)


async def test_purge_removes_ended_dashboard_sessions(storage: Storage) -> None:
    """The dashboard's sessions are server-side: housekeeping deletes the expired and the revoked (logged out,
    refused for a disabled administrator) and keeps the live ones."""
    now = 1_800_000_000.0

    def session(session_hash: str, expires_at: float, revoked_at: float | None = None) -> AdminSession:
        return AdminSession("default", session_hash, "u1", now - 100, expires_at, revoked_at)

    for value in (session("live", now + 60), session("expired", now - 1), session("ended", now + 60, now - 5)):
        await storage.admin_sessions.create(value)
    assert (await purge(storage, now)).admin_sessions == 2
    assert await storage.admin_sessions.get("default", "live") is not None
    assert await storage.admin_sessions.get("default", "expired") is None
    assert await storage.admin_sessions.get("default", "ended") is None


async def test_events_older_than_the_retention_go_in_whole_batches(storage: Storage) -> None:
    now = 1_800_000_000.0
    old = [TokenIssued(tenant_id="keep", grant_type="client_credentials", at=now - 31 * DAY + n) for n in range(3)]
    straddling = [
        TokenIssued(tenant_id="other", grant_type="refresh_token", at=now - 30 * DAY - 5),
        TokenIssued(tenant_id="other", grant_type="refresh_token", at=now - 29 * DAY),
    ]
    recent = [TokenIssued(tenant_id="keep", grant_type="authorization_code", at=now - DAY)]
    for batch in (old, straddling, recent):
        await storage.events.append(batch)

    kept = await purge(storage, now, events_retention_days=0)  # 0 keeps every event
    assert kept.events == 0 and len(await storage.events.query("keep", 0, now)) == 4

    report = await purge(storage, now, events_retention_days=30)
    assert report.events == 3  # the old batch; a batch with one event inside the window stays whole
    assert [e.detail["grant_type"] for e in await storage.events.query("keep", 0, now)] == ["authorization_code"]
    assert len(await storage.events.query("other", 0, now)) == 2
    assert (await purge(storage, now, events_retention_days=30)).events == 0


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


@pytest.mark.parametrize(
    ("value", "days"), [("30", 30.0), ("0", 0.0), ("0.5", 0.5), ("-1", None), ("forever", None), ("inf", None)]
)
def test_events_retention_is_read_from_the_environment(value: str, days: float | None) -> None:
    env = {"PIXIE_SECRET_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(), "PIXIE_EVENTS_RETENTION_DAYS": value}
    if days is None:
        with pytest.raises(ConfigError, match="PIXIE_EVENTS_RETENTION_DAYS"):
            Settings.from_env(env)
    else:
        assert Settings.from_env(env).events_retention_days == days
