"""Every instance runs scheduled key rotation; when two decide at the same moment exactly one may rotate.

Regression: rotation used to be list → promote → demote → add in separate transactions, with the due check in yet
another. Two instances racing could both rotate, leaving an extra ``next`` key each time (the JWKS grew without
bound), and an instance that listed between the other's steps activated a key that had *never been published* as
``next`` — tokens signed with it fail at resource servers that cached the JWKS. Now the promotion is a
compare-and-set on the key's state and due-ness is judged from the listing the rotation starts from.

Spec: RFC 7517 §5 (the published set), RFC 9068 §4 (resource servers validate with the issuer's published keys).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from pgsupport import temporary_postgres_database
from pixie.housekeeping import rotate_due_keys
from pixie.management import create_tenant
from pixie.storage.interfaces import Storage
from pixie.storage.records import SigningKey, TenantSettings
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing, RotationConflict, RotationReport
from pixie.types import KeyState
from scaleout.support import MASTER_KEY

T = TypeVar("T")
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def _after(delay: float, work: Awaitable[T]) -> T:
    await asyncio.sleep(delay)
    return await work


@pytest.mark.postgres
async def test_two_instances_scheduling_a_rotation_at_once_rotate_exactly_once() -> None:
    """Two "instances" (own connections, own key ring) run the scheduled rotation concurrently, staggered by a few
    milliseconds so every interleaving of their steps occurs over the trials."""
    clock = Clock()
    async with temporary_postgres_database() as url, open_storage(url) as first, open_storage(url) as second:
        stores = [first, second]
        rings = [KeyRing(s.keys, MASTER_KEY, clock=clock, cache_ttl=0) for s in stores]
        for trial in range(24):
            name = f"race{trial}"
            await create_tenant(stores[0], rings[0], name, settings=TenantSettings(key_rotation_days=1))
            published = {key.kid for key in await stores[0].keys.list(name)}
            clock.now += 2 * DAY
            stagger = random.uniform(0, 0.03)
            reports = await asyncio.gather(
                rotate_due_keys(stores[0], rings[0]), _after(stagger, rotate_due_keys(stores[1], rings[1]))
            )
            keys = await stores[0].keys.list(name)
            states = Counter(key.state for key in keys)
            assert sum(len(report) for report in reports) == 1, f"trial {trial}: {reports}"
            assert (states[KeyState.ACTIVE], states[KeyState.NEXT]) == (1, 1), f"trial {trial}: {states}"
            (active,) = [key for key in keys if key.state is KeyState.ACTIVE]
            assert active.kid in published, f"trial {trial}: the active key was never published as next"
            await stores[0].tenants.set_disabled(name, True)  # out of the following trials' rounds


def _key(kid: str, state: KeyState) -> SigningKey:
    return SigningKey(
        tenant_id="default",
        kid=kid,
        alg="ES256",
        state=state,
        private_key_encrypted=b"x",
        public_jwk={"kid": kid},
        created_at=1.0,
    )


async def test_promotion_is_a_compare_and_set(storage: Storage) -> None:
    """The store contract the fix rests on, on both backends: ``expected`` makes ``set_state`` conditional."""
    await storage.keys.add(_key("k-next", KeyState.NEXT))
    assert await storage.keys.set_state("default", "k-next", KeyState.ACTIVE, 5.0, expected=KeyState.NEXT)
    assert not await storage.keys.set_state("default", "k-next", KeyState.ACTIVE, 6.0, expected=KeyState.NEXT)
    assert not await storage.keys.set_state("default", "missing", KeyState.ACTIVE, 6.0, expected=KeyState.NEXT)
    (key,) = await storage.keys.list("default")
    assert (key.state, key.activated_at) == (KeyState.ACTIVE, 5.0)


@pytest.mark.postgres
async def test_manual_rotations_racing_each_other_never_activate_an_unpublished_key(postgres_url: str) -> None:
    """``pixie keys rotate`` racing another rotation (two connection pools, so their statements really interleave): each
    either rotates or raises :class:`RotationConflict`; the active key was always published before, and ``next``
    keys do not pile up."""
    async with open_storage(postgres_url) as first, open_storage(postgres_url) as second:
        stores = [first, second]
        rings = [KeyRing(s.keys, MASTER_KEY, cache_ttl=0) for s in stores]
        await create_tenant(stores[0], rings[0], "manual-race", settings=None)
        for _ in range(8):
            published = {key.kid for key in await stores[0].keys.list("manual-race")}
            outcomes = await asyncio.gather(
                rings[0].rotate("manual-race"),
                _after(random.uniform(0, 0.02), rings[1].rotate("manual-race")),
                return_exceptions=True,
            )
            assert {type(o).__name__ for o in outcomes} <= {"RotationConflict", "RotationReport"}, outcomes
            reports = [outcome for outcome in outcomes if isinstance(outcome, RotationReport)]
            assert reports, "both rotations gave up"
            keys = await stores[0].keys.list("manual-race")
            (active,) = [key for key in keys if key.state is KeyState.ACTIVE]
            # Two reports are two rotations in a row (the second started after the first had finished, which the
            # stagger allows): the second activates the next key the first published. Anything else is a key
            # nobody had seen.
            assert active.kid in published | {report.new_next for report in reports}, "activated unpublished"
            assert 1 <= sum(key.state is KeyState.NEXT for key in keys) <= 2


async def test_a_ring_without_a_next_key_publishes_one_before_activating_it(storage: Storage) -> None:
    """A ring left with an active key and no next one (a rotation interrupted between its steps) is repaired by
    publishing a next key, not by activating an unseen one."""
    ring = KeyRing(storage.keys, MASTER_KEY, cache_ttl=0)
    await ring.ensure("default")
    (upcoming,) = [key for key in await storage.keys.list("default") if key.state is KeyState.NEXT]
    await storage.keys.set_state("default", upcoming.kid, KeyState.ACTIVE, time.time())  # interrupted rotation
    with pytest.raises(RotationConflict):
        await ring.rotate("default")
    states = Counter(key.state for key in await storage.keys.list("default"))
    assert (states[KeyState.ACTIVE], states[KeyState.NEXT]) == (2, 1)
    report = await ring.rotate("default")
    keys = {key.kid: key.state for key in await storage.keys.list("default")}
    assert keys[report.activated] is KeyState.ACTIVE and report.new_next in keys
    assert Counter(keys.values())[KeyState.ACTIVE] == 1
