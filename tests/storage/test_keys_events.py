"""KeyStore and EventStore contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.types import KeyState

from . import factories as f
from .factories import NOW, OTHER, TENANT

# --- signing keys ------------------------------------------------------------------------------------------------


async def test_key_round_trip(storage: Storage) -> None:
    """Encrypted private key bytes and the public JWK (JSON) come back exactly; state is a KeyState."""
    key = f.signing_key()
    await storage.keys.add(key)
    (stored,) = await storage.keys.list(TENANT)
    assert stored == key
    assert isinstance(stored.state, KeyState)
    assert await storage.keys.list(OTHER) == []


async def test_duplicate_kid_is_rejected(storage: Storage) -> None:
    await storage.keys.add(f.signing_key())
    with pytest.raises(AlreadyExists):
        await storage.keys.add(f.signing_key())
    await storage.keys.add(f.signing_key(OTHER))  # the same kid in another tenant is fine


async def test_keys_listed_oldest_first(storage: Storage) -> None:
    """KeyStore.list: oldest first (created_at, then kid)."""
    for kid, created_at in (("c", NOW), ("b", NOW + 5), ("a", NOW)):
        await storage.keys.add(f.signing_key(kid=kid, created_at=created_at))
    assert [k.kid for k in await storage.keys.list(TENANT)] == ["a", "c", "b"]


async def test_keys_of_every_tenant_and_the_master_keys_that_sealed_them(storage: Storage) -> None:
    """The master-key check counts keys per sealing fingerprint across tenants; keys stored before fingerprints
    existed count under None."""
    await storage.keys.add(f.signing_key(kid="a", sealed_by="fp-1"))
    await storage.keys.add(f.signing_key(kid="b", sealed_by="fp-1", created_at=NOW + 1))
    await storage.keys.add(f.signing_key(OTHER, kid="c"))
    assert await storage.keys.fingerprints() == {"fp-1": 2, None: 1}
    assert [(k.tenant_id, k.kid) for k in await storage.keys.list_all()] == [(TENANT, "a"), (TENANT, "b"), (OTHER, "c")]


async def test_reseal_replaces_every_key_at_once(storage: Storage) -> None:
    """``pixie secret rotate``: every key's ciphertext and fingerprint change in one transaction, nothing else does."""
    keys = [f.signing_key(kid="a", sealed_by="old"), f.signing_key(OTHER, kid="b")]
    for key in keys:
        await storage.keys.add(key)
    resealed = [dataclasses.replace(k, private_key_encrypted=b"new " + k.kid.encode(), sealed_by="new") for k in keys]
    await storage.keys.reseal(resealed)
    assert await storage.keys.list_all() == sorted(resealed, key=lambda k: k.tenant_id)
    assert await storage.keys.fingerprints() == {"new": 2}
    await storage.keys.reseal([])  # nothing to do


async def test_a_failed_reseal_changes_nothing(storage: Storage) -> None:
    """All or nothing: a key that cannot be stored (a NULL ciphertext, refused by the schema) undoes the others."""
    keys = [f.signing_key(kid="a", sealed_by="old"), f.signing_key(kid="b", sealed_by="old", created_at=NOW + 1)]
    for key in keys:
        await storage.keys.add(key)
    broken = [
        dataclasses.replace(keys[0], private_key_encrypted=b"new", sealed_by="new"),
        dataclasses.replace(keys[1], private_key_encrypted=None, sealed_by="new"),  # type: ignore[arg-type]
    ]
    with pytest.raises(Exception):  # noqa: B017 (each driver raises its own integrity error)
        await storage.keys.reseal(broken)
    assert await storage.keys.list(TENANT) == keys


async def test_key_life_cycle_moves_timestamps(storage: Storage) -> None:
    """Key ring (ARCHITECTURE §3 tokens/keys): next → active → retiring → retired; activated_at on activation,
    retired_at when the key stops signing (kept through retired)."""
    key = f.signing_key()
    await storage.keys.add(key)
    assert await storage.keys.set_state(TENANT, key.kid, KeyState.ACTIVE, NOW + 1)
    assert await storage.keys.set_state(TENANT, key.kid, KeyState.ACTIVE, NOW + 2)  # no-op: stays NOW + 1
    assert await storage.keys.set_state(TENANT, key.kid, KeyState.RETIRING, NOW + 10)
    assert await storage.keys.set_state(TENANT, key.kid, KeyState.RETIRED, NOW + 20)
    (stored,) = await storage.keys.list(TENANT)
    assert stored == dataclasses.replace(key, state=KeyState.RETIRED, activated_at=NOW + 1, retired_at=NOW + 10)


async def test_set_state_scoping(storage: Storage) -> None:
    await storage.keys.add(f.signing_key())
    assert not await storage.keys.set_state(OTHER, "kid-1", KeyState.ACTIVE, NOW)
    assert not await storage.keys.set_state(TENANT, "kid-2", KeyState.ACTIVE, NOW)
    (stored,) = await storage.keys.list(TENANT)
    assert stored.state is KeyState.NEXT and stored.activated_at is None


# --- events ------------------------------------------------------------------------------------------------------


async def test_events_round_trip_in_time_order(storage: Storage) -> None:
    """EventStore.query: ``[since, until)`` of one tenant, ordered by time; detail is JSON."""
    batch = [
        f.event(created_at=NOW + 2, kind="token", client_id="spa", duration_ms=12.5, correlation_id="c1"),
        f.event(created_at=NOW, kind="authorize", outcome="failure", error="invalid_request", detail={"n": [1, 2]}),
        f.event(created_at=NOW + 1, kind="login"),
        f.event(created_at=NOW + 3, kind="token"),  # == until: excluded
        f.event(created_at=NOW - 1, kind="token"),  # before since: excluded
        f.event(OTHER, created_at=NOW + 1, kind="token"),
    ]
    await storage.events.append(batch)
    found = await storage.events.query(TENANT, NOW, NOW + 3)
    assert found == [batch[1], batch[2], batch[0]]


async def test_events_filtered_by_kind(storage: Storage) -> None:
    await storage.events.append([f.event(kind=k, created_at=NOW + i) for i, k in enumerate(["a", "b", "c", "a"])])
    assert [e.kind for e in await storage.events.query(TENANT, NOW, NOW + 10, kinds=["a", "c"])] == ["a", "c", "a"]
    assert await storage.events.query(TENANT, NOW, NOW + 10, kinds=[]) == []


async def test_empty_append_is_a_no_op(storage: Storage) -> None:
    await storage.events.append([])
    assert await storage.events.query(TENANT, 0, NOW * 2) == []
