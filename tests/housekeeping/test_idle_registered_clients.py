"""Housekeeping removes self-registered clients nobody uses, on SQLite and PostgreSQL, after each tenant's
``registration_idle_days``, and leaves alone the clients an administrator registered and those in use.

Spec: RFC 7591 §5 (an open registration endpoint must not exhaust the server's resources).
"""

from __future__ import annotations

import dataclasses

from pixie.housekeeping import purge
from pixie.registration import create_registration_token
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, Tenant, TenantSettings

NOW = 1_800_000_000.0
DAY = 86400.0


def _client(tenant_id: str, client_id: str, *, registered: bool, created_at: float) -> Client:
    return Client(
        tenant_id=tenant_id,
        client_id=client_id,
        client_type="public",
        token_endpoint_auth_method="none",
        redirect_uris=("http://127.0.0.1/cb",),
        grant_types=("authorization_code",),
        scopes=(),
        created_at=created_at,
        registration_access_token_hash=("a" * 64) if registered else None,
    )


async def test_idle_self_registered_clients_go_after_their_tenants_idle_days(storage: Storage) -> None:
    patient = dataclasses.replace(TenantSettings(), registration="open", registration_idle_days=90)
    await storage.tenants.create(Tenant(id="quick", display_name="Quick", created_at=NOW))
    await storage.tenants.create(Tenant(id="patient", display_name="Patient", created_at=NOW, settings=patient))
    old = NOW - 40 * DAY
    await storage.clients.create(_client("quick", "idle", registered=True, created_at=old))
    await storage.clients.create(_client("quick", "used", registered=True, created_at=old))
    await storage.clients.create(_client("quick", "by-admin", registered=False, created_at=old))
    await storage.clients.create(_client("quick", "new", registered=True, created_at=NOW - DAY))
    await storage.clients.create(_client("patient", "idle", registered=True, created_at=old))
    await storage.clients.touch("quick", "used", NOW - 2 * DAY)
    await storage.consents.grant("quick", "u1", "idle", ["a"], old)

    report = await purge(storage, NOW)

    assert report.idle_registered_clients == 1
    assert await storage.clients.get("quick", "idle") is None
    assert await storage.consents.get("quick", "u1", "idle") is None  # deleted with everything given to it
    for tenant_id, client_id in (("quick", "used"), ("quick", "by-admin"), ("quick", "new"), ("patient", "idle")):
        assert await storage.clients.get(tenant_id, client_id) is not None, client_id
    assert (await purge(storage, NOW + 51 * DAY)).idle_registered_clients == 3  # all but the administrator's


async def test_expired_initial_access_tokens_are_purged(storage: Storage) -> None:
    await storage.tenants.create(Tenant(id="quick", display_name="Quick", created_at=NOW))
    await create_registration_token(storage, "quick", expires_in=60, now=NOW)
    kept = await create_registration_token(storage, "quick", now=NOW)
    assert (await purge(storage, NOW + 61)).registration_tokens == 1
    assert await storage.registration_tokens.list("quick") == [kept.record]
