"""Who exists: tenants, clients and users (PostgreSQL backend; semantics of :mod:`pixie.storage.sql.directory`)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from pixie.storage.pg.codec import RecordCodec, settings_to_json
from pixie.storage.pg.database import Database
from pixie.storage.records import Client, SigningKey, Tenant, TenantSettings, User
from pixie.types import TenantId

__all__ = ["PgClientStore", "PgTenantStore", "PgUserStore"]

_tenant = RecordCodec(Tenant, "tenants", field_map={"id": "tenant_id"})
_client = RecordCodec(Client, "clients")
_user = RecordCodec(User, "users")
_key = RecordCodec(SigningKey, "signing_keys")

_GET_TENANT = _tenant.select("tenant_id = $1")
_LIST_TENANTS = _tenant.select("TRUE", order_by="tenant_id")
_DISABLE_TENANT = "UPDATE tenants SET disabled = $2 WHERE tenant_id = $1"
_SET_SETTINGS = "UPDATE tenants SET settings = $2 WHERE tenant_id = $1"

_GET_CLIENT = _client.select("tenant_id = $1 AND client_id = $2")
_LIST_CLIENTS = _client.select("tenant_id = $1", order_by="client_id")
_DISABLE_CLIENT = "UPDATE clients SET disabled = $3 WHERE tenant_id = $1 AND client_id = $2"

_GET_USER = _user.select("tenant_id = $1 AND user_id = $2")
_GET_USER_BY_NAME = _user.select("tenant_id = $1 AND username = $2")
_LIST_USERS = _user.select("tenant_id = $1", order_by="username")
_DISABLE_USER = "UPDATE users SET disabled = $3 WHERE tenant_id = $1 AND user_id = $2"
_SET_PASSWORD = "UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND user_id = $2"  # noqa: S105


class PgTenantStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, tenant: Tenant) -> None:
        await self._db.execute(_tenant.insert, *_tenant.encode(tenant))

    async def create_many(self, tenants: Sequence[Tenant], keys: Sequence[SigningKey]) -> None:
        """Two pipelined executemany INSERTs in one transaction (all or nothing): thousands of tenants cost one
        commit and a few round trips."""
        if not tenants:
            return
        async with self._db.transaction() as connection:
            await connection.executemany(_tenant.insert, [_tenant.encode(tenant) for tenant in tenants])
            if keys:
                await connection.executemany(_key.insert, [_key.encode(key) for key in keys])

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        return _tenant.decode_optional(await self._db.fetchrow(_GET_TENANT, tenant_id))

    async def list(self) -> builtins.list[Tenant]:
        return [_tenant.decode(row) for row in await self._db.fetch(_LIST_TENANTS)]

    async def set_disabled(self, tenant_id: TenantId, disabled: bool) -> bool:
        return await self._db.execute(_DISABLE_TENANT, tenant_id, disabled) == 1

    async def update_settings(self, tenant_id: TenantId, settings: TenantSettings) -> bool:
        return await self._db.execute(_SET_SETTINGS, tenant_id, settings_to_json(settings)) == 1


class PgClientStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, client: Client) -> None:
        await self._db.execute(_client.insert, *_client.encode(client))

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        return _client.decode_optional(await self._db.fetchrow(_GET_CLIENT, tenant_id, client_id))

    async def list(self, tenant_id: TenantId) -> builtins.list[Client]:
        return [_client.decode(row) for row in await self._db.fetch(_LIST_CLIENTS, tenant_id)]

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        return await self._db.execute(_DISABLE_CLIENT, tenant_id, client_id, disabled) == 1


class PgUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: User) -> None:
        """Raises :class:`AlreadyExists` for a taken username or user id in the tenant."""
        await self._db.execute(_user.insert, *_user.encode(user))

    async def get(self, tenant_id: TenantId, user_id: str) -> User | None:
        return _user.decode_optional(await self._db.fetchrow(_GET_USER, tenant_id, user_id))

    async def get_by_username(self, tenant_id: TenantId, username: str) -> User | None:
        return _user.decode_optional(await self._db.fetchrow(_GET_USER_BY_NAME, tenant_id, username))

    async def list(self, tenant_id: TenantId) -> builtins.list[User]:
        return [_user.decode(row) for row in await self._db.fetch(_LIST_USERS, tenant_id)]

    async def set_password_hash(self, tenant_id: TenantId, user_id: str, password_hash: str) -> bool:
        return await self._db.execute(_SET_PASSWORD, tenant_id, user_id, password_hash) == 1

    async def set_disabled(self, tenant_id: TenantId, user_id: str, disabled: bool) -> bool:
        return await self._db.execute(_DISABLE_USER, tenant_id, user_id, disabled) == 1
