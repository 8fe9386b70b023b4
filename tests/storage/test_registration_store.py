"""RegistrationTokenStore and the self-registered side of ClientStore, on SQLite and PostgreSQL: initial access
tokens are kept per tenant and purged when expired; ``touch`` writes at most once per window; idle self-registered
clients (and only they) are listed for housekeeping.

Spec: RFC 7591 §3 (initial access token), RFC 7592 §3 (registration access token).
"""

from __future__ import annotations

from pixie.storage.interfaces import Storage
from pixie.storage.records import RegistrationToken

from .factories import NOW, OTHER, TENANT, client, token_hash


async def test_initial_access_tokens_are_kept_per_tenant_and_purged(storage: Storage) -> None:
    kept = RegistrationToken(TENANT, "t1", token_hash(), NOW, None)
    expiring = RegistrationToken(TENANT, "t2", token_hash(), NOW, NOW + 10)
    await storage.registration_tokens.create(kept)
    await storage.registration_tokens.create(expiring)
    assert await storage.registration_tokens.get(TENANT, "t1") == kept
    assert await storage.registration_tokens.get(OTHER, "t1") is None
    assert await storage.registration_tokens.list(TENANT) == [kept, expiring]
    assert await storage.registration_tokens.purge_expired(NOW + 10) == 1
    assert await storage.registration_tokens.list(TENANT) == [kept]
    assert await storage.registration_tokens.delete(TENANT, "t1")
    assert not await storage.registration_tokens.delete(TENANT, "t1")


async def test_touch_writes_once_per_window(storage: Storage) -> None:
    await storage.clients.create(client(registration_access_token_hash=token_hash()))
    await storage.clients.touch(TENANT, "spa", NOW)
    await storage.clients.touch(TENANT, "spa", NOW + 100, every=3600)
    found = await storage.clients.get(TENANT, "spa")
    assert found is not None and found.last_used_at == NOW
    await storage.clients.touch(TENANT, "spa", NOW + 4000, every=3600)
    found = await storage.clients.get(TENANT, "spa")
    assert found is not None and found.last_used_at == NOW + 4000


async def test_idle_self_registered_clients_are_listed(storage: Storage) -> None:
    await storage.clients.create(client(client_id="admin-made", created_at=NOW - 90 * 86400))
    await storage.clients.create(client(client_id="idle", registration_access_token_hash=token_hash(), created_at=NOW))
    await storage.clients.create(client(client_id="used", registration_access_token_hash=token_hash(), created_at=NOW))
    await storage.clients.touch(TENANT, "used", NOW + 40 * 86400)
    await storage.clients.create(
        client(OTHER, client_id="idle", registration_access_token_hash=token_hash(), created_at=NOW)
    )
    idle = await storage.clients.list_idle_registered(TENANT, NOW + 31 * 86400)
    assert [c.client_id for c in idle] == ["idle"]
    assert await storage.clients.list_idle_registered(TENANT, NOW - 1) == []
    assert len(await storage.clients.list_idle_registered(TENANT, NOW + 50 * 86400, limit=1)) == 1
    assert len(await storage.clients.list_idle_registered(OTHER, NOW + 50 * 86400)) == 1
