"""ProofReplayStore contract, on SQLite and PostgreSQL: a proof is recorded once per tenant, concurrently too, and
forgotten after its window.

Spec: RFC 9449 §11.1.
"""

from __future__ import annotations

import asyncio

from pixie.storage.interfaces import Storage

from .factories import NOW, OTHER, TENANT


async def test_a_proof_is_recorded_once(storage: Storage) -> None:
    assert await storage.proofs.first_use(TENANT, "k" * 64, NOW + 60)
    assert not await storage.proofs.first_use(TENANT, "k" * 64, NOW + 60)
    assert not await storage.proofs.first_use(TENANT, "k" * 64, NOW + 120)
    assert await storage.proofs.first_use(TENANT, "j" * 64, NOW + 60)
    assert await storage.proofs.first_use(OTHER, "k" * 64, NOW + 60)  # each tenant its own window


async def test_of_concurrent_uses_exactly_one_wins(storage: Storage) -> None:
    outcomes = await asyncio.gather(*(storage.proofs.first_use(TENANT, "c" * 64, NOW + 60) for _ in range(12)))
    assert sorted(outcomes) == [False] * 11 + [True]


async def test_purge_forgets_passed_windows_of_every_tenant(storage: Storage) -> None:
    await storage.proofs.first_use(TENANT, "a" * 64, NOW + 10)
    await storage.proofs.first_use(OTHER, "b" * 64, NOW + 10)
    await storage.proofs.first_use(TENANT, "c" * 64, NOW + 100)
    assert await storage.proofs.purge_expired(NOW + 10) == 2
    assert await storage.proofs.first_use(TENANT, "a" * 64, NOW + 200)  # forgotten, so recorded anew
    assert not await storage.proofs.first_use(TENANT, "c" * 64, NOW + 200)
