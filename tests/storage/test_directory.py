"""TenantStore, ClientStore and UserStore contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from pixie.storage.cache import CachedClientStore
from pixie.storage.interfaces import AlreadyExists, ClientStore, Storage
from pixie.storage.records import Tenant, TenantSettings
from pixie.storage.schema.tables import tenants

from . import factories as f
from .factories import NOW, OTHER, TENANT

# --- tenants -----------------------------------------------------------------------------------------------------


async def test_tenant_round_trip_with_settings(storage: Storage) -> None:
    """Tenant settings are JSON: tuples come back as tuples, None stays None."""
    settings = TenantSettings(access_token_ttl=120, allowed_grant_types=("authorization_code",), default_audience=None)
    tenant = Tenant(id=TENANT, display_name="Acme", created_at=NOW, settings=settings)
    await storage.tenants.create(tenant)
    stored = await storage.tenants.get(TENANT)
    assert stored == tenant
    assert stored is not None and isinstance(stored.settings.allowed_grant_types, tuple)
    assert await storage.tenants.get(OTHER) is None


async def test_role_gated_scopes_round_trip(storage: Storage) -> None:
    """``scope_roles`` nests tuples two deep; JSON turns them into lists, the store must turn them back (an equal,
    hashable record)."""
    gates = (("properties:write", ("manager", "owner")), ("tenants:read", ()))
    tenant = Tenant(id=TENANT, display_name="Acme", created_at=NOW, settings=TenantSettings(scope_roles=gates))
    await storage.tenants.create(tenant)
    stored = await storage.tenants.get(TENANT)
    assert stored == tenant and hash(stored) == hash(tenant)
    assert stored is not None and stored.settings.scope_roles == gates
    assert await storage.tenants.update_settings(TENANT, TenantSettings())
    updated = await storage.tenants.get(TENANT)
    assert updated is not None and updated.settings.scope_roles == ()


async def test_duplicate_tenant_is_rejected(storage: Storage) -> None:
    await storage.tenants.create(Tenant(id=TENANT, display_name="Acme", created_at=NOW))
    with pytest.raises(AlreadyExists):
        await storage.tenants.create(Tenant(id=TENANT, display_name="Other name", created_at=NOW + 1))


async def test_tenants_listed_by_id(storage: Storage) -> None:
    for name in ("zeta", "default", "acme"):
        await storage.tenants.create(Tenant(id=name, display_name=name.title(), created_at=NOW))
    assert [t.id for t in await storage.tenants.list()] == ["acme", "default", "zeta"]


async def test_tenant_disable_and_settings_update(storage: Storage) -> None:
    await storage.tenants.create(Tenant(id=TENANT, display_name="Acme", created_at=NOW))
    assert await storage.tenants.set_disabled(TENANT, True)
    new_settings = TenantSettings(login_title="Welcome", brand_color="#000000")
    assert await storage.tenants.update_settings(TENANT, new_settings)
    stored = await storage.tenants.get(TENANT)
    assert stored is not None and stored.disabled and stored.settings == new_settings
    assert not await storage.tenants.set_disabled(OTHER, True)
    assert not await storage.tenants.update_settings(OTHER, new_settings)


async def test_settings_from_a_newer_version_are_read(storage: Storage, storage_engine: AsyncEngine) -> None:
    """TenantSettings docstring: unknown keys written by a newer Pixie are ignored; missing keys get defaults."""
    async with storage_engine.begin() as connection:
        await connection.execute(
            sa.insert(tenants).values(
                tenant_id=TENANT,
                display_name="Acme",
                created_at=NOW,
                disabled=False,
                settings={"code_ttl": 30, "allowed_grant_types": ["client_credentials"], "future_knob": {"a": 1}},
            )
        )
    stored = await storage.tenants.get(TENANT)
    assert stored is not None
    assert stored.settings == TenantSettings(code_ttl=30, allowed_grant_types=("client_credentials",))


# --- clients: the store, and the cache that serves the hot path in front of it -------------------------------------


@pytest.fixture(params=["store", "cached"])
def clients(storage: Storage, request: pytest.FixtureRequest) -> ClientStore:
    """Each client test runs on the store and on the cache the server puts in front of it (it must keep the contract,
    beyond its staleness bound for changes made elsewhere: ``test_cache.py``)."""
    return storage.clients if request.param == "store" else CachedClientStore(storage.clients)


async def test_client_round_trip(clients: ClientStore) -> None:
    """Every Client field survives storage, including tuples (order kept) and optional overrides."""
    confidential = f.client(
        client_id="api",
        client_type="confidential",
        token_endpoint_auth_method="client_secret_basic",
        secret_hash=f.token_hash(),
        audiences=("https://api.example", "https://other.example"),
        name="Back office",
        logo_uri="https://cdn.example/back-office.png",
        refresh_grace_seconds=30,
        access_token_ttl=600,
        refresh_idle_ttl=3600,
        refresh_absolute_ttl=86400,
    )
    public = f.client(client_id="spa")
    for client in (confidential, public):
        await clients.create(client)
    assert await clients.get(TENANT, "api") == confidential
    assert await clients.get(TENANT, "spa") == public
    assert await clients.get(TENANT, "nope") is None


async def test_client_is_scoped_to_its_tenant(clients: ClientStore) -> None:
    """Multi-tenancy: the same client_id may exist in two tenants; each sees only its own."""
    await clients.create(f.client(TENANT, "spa", name="acme app"))
    await clients.create(f.client(OTHER, "spa", name="globex app"))
    acme = await clients.get(TENANT, "spa")
    assert acme is not None and acme.name == "acme app"
    assert [c.name for c in await clients.list(OTHER)] == ["globex app"]
    assert await clients.set_disabled(OTHER, "spa", True)
    acme = await clients.get(TENANT, "spa")
    assert acme is not None and not acme.disabled


async def test_duplicate_client_is_rejected(clients: ClientStore) -> None:
    await clients.create(f.client())
    with pytest.raises(AlreadyExists):
        await clients.create(f.client(name="again"))


async def test_clients_listed_by_id_and_disabled(clients: ClientStore) -> None:
    for client_id in ("web", "cli", "spa"):
        await clients.create(f.client(client_id=client_id))
    assert [c.client_id for c in await clients.list(TENANT)] == ["cli", "spa", "web"]
    assert await clients.set_disabled(TENANT, "web", True)
    web = await clients.get(TENANT, "web")
    assert web is not None and web.disabled
    assert not await clients.set_disabled(TENANT, "nope", True)


async def test_update_replaces_every_field_but_the_key(clients: ClientStore) -> None:
    """The stored client becomes the given one (a cached one at once too); another tenant's is left alone."""
    await clients.create(f.client())
    await clients.create(f.client(OTHER))
    assert await clients.get(TENANT, "spa") is not None  # cached, where the store is the cache
    changed = f.client(
        redirect_uris=("https://app.example/new",),
        scopes=("a",),
        name="Renamed",
        secret_hash="cd" * 32,
        audiences=("x",),
        refresh_grace_seconds=7,
        access_token_ttl=60,
        disabled=True,
    )
    assert await clients.update(changed)
    assert await clients.get(TENANT, "spa") == changed
    assert await clients.get(OTHER, "spa") == f.client(OTHER)
    assert not await clients.update(f.client(client_id="nope"))


# --- users -------------------------------------------------------------------------------------------------------


async def test_user_round_trip_and_lookups(storage: Storage) -> None:
    user = f.user(roles=("admin", "auditor"))
    await storage.users.create(user)
    assert await storage.users.get(TENANT, "u1") == user
    assert await storage.users.get_by_username(TENANT, "alice") == user
    assert await storage.users.get(OTHER, "u1") is None
    assert await storage.users.get_by_username(OTHER, "alice") is None


async def test_duplicate_username_or_id_is_rejected(storage: Storage) -> None:
    """CLI ``users create``: a username is unique per tenant (and so is the user id)."""
    await storage.users.create(f.user())
    with pytest.raises(AlreadyExists):
        await storage.users.create(f.user(user_id="u2"))
    with pytest.raises(AlreadyExists):
        await storage.users.create(f.user(username="bob"))
    await storage.users.create(f.user(OTHER))  # same name, other tenant


async def test_users_listed_by_username(storage: Storage) -> None:
    for user_id, name in (("1", "carol"), ("2", "alice"), ("3", "bob")):
        await storage.users.create(f.user(user_id=user_id, username=name))
    await storage.users.create(f.user(OTHER, user_id="4", username="aaron"))
    assert [u.username for u in await storage.users.list(TENANT)] == ["alice", "bob", "carol"]


async def test_set_password_hash(storage: Storage) -> None:
    user = f.user()
    await storage.users.create(user)
    assert await storage.users.set_password_hash(TENANT, "u1", "$argon2id$new")
    assert await storage.users.get(TENANT, "u1") == dataclasses.replace(user, password_hash="$argon2id$new")
    assert not await storage.users.set_password_hash(OTHER, "u1", "$argon2id$evil")
    assert not await storage.users.set_password_hash(TENANT, "u9", "$argon2id$new")


async def test_profile_round_trip_and_set_profile(storage: Storage) -> None:
    """OpenID Connect profile claims are stored with the user; ``set_profile`` changes them and nothing else."""
    user = f.user(name="Alice Smith", given_name="Alice", family_name="Smith", email="a@example.com")
    await storage.users.create(user)
    assert await storage.users.get(TENANT, "u1") == user
    changed = dataclasses.replace(
        user, name=None, email="alice@example.com", email_verified=True, password_hash="ignored", roles=("x",)
    )
    assert await storage.users.set_profile(changed)
    stored = await storage.users.get(TENANT, "u1")
    assert stored == dataclasses.replace(user, name=None, email="alice@example.com", email_verified=True)
    assert not await storage.users.set_profile(f.user(OTHER))
