"""Who exists: tenants, clients and users (lean SQLite backend; semantics of :mod:`pixie.storage.sql.directory`)."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence

from pixie.storage.records import Client, SigningKey, Tenant, TenantSettings, User
from pixie.storage.sqlite.codec import RecordCodec, settings_to_json
from pixie.storage.sqlite.database import Database
from pixie.types import TenantId

__all__ = ["SqliteClientStore", "SqliteTenantStore", "SqliteUserStore"]

_tenant = RecordCodec(Tenant, "tenants", field_map={"id": "tenant_id"})
_client = RecordCodec(Client, "clients")
_user = RecordCodec(User, "users")

_key = RecordCodec(SigningKey, "signing_keys")

_GET_TENANT = _tenant.select("tenant_id = ?")
_LIST_TENANTS = _tenant.select("1", order_by="tenant_id")
_GET_CLIENT = _client.select("tenant_id = ? AND client_id = ?")
_LIST_CLIENTS = _client.select("tenant_id = ?", order_by="client_id")
_GET_USER = _user.select("tenant_id = ? AND user_id = ?")
_GET_USER_BY_NAME = _user.select("tenant_id = ? AND username = ?")
_LIST_USERS = _user.select("tenant_id = ?", order_by="username")


class SqliteTenantStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, tenant: Tenant) -> None:
        values = _tenant.encode(tenant)
        await self._db.write(lambda c: c.execute(_tenant.insert, values))

    async def create_many(self, tenants: Sequence[Tenant], keys: Sequence[SigningKey]) -> None:
        """Two executemany INSERTs in one transaction (all or nothing), on the worker thread: thousands of tenants
        cost one commit, and the loop never waits for them."""
        if not tenants:
            return
        tenant_rows = [_tenant.encode(tenant) for tenant in tenants]
        key_rows = [_key.encode(key) for key in keys]

        def insert(connection: sqlite3.Connection) -> None:
            connection.executemany(_tenant.insert, tenant_rows)
            if key_rows:
                connection.executemany(_key.insert, key_rows)

        await self._db.offload(insert, write=True)

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        row = await self._db.read(lambda c: c.execute(_GET_TENANT, (tenant_id,)).fetchone())
        return _tenant.decode_optional(row)

    async def list(self) -> builtins.list[Tenant]:
        """On the worker thread: a deployment may hold thousands of tenants."""
        return await self._db.offload(lambda c: [_tenant.decode(row) for row in c.execute(_LIST_TENANTS)], write=False)

    async def set_disabled(self, tenant_id: TenantId, disabled: bool) -> bool:
        sql = "UPDATE tenants SET disabled = ? WHERE tenant_id = ?"
        return await self._db.write(lambda c: c.execute(sql, (disabled, tenant_id)).rowcount == 1)

    async def update_settings(self, tenant_id: TenantId, settings: TenantSettings) -> bool:
        sql = "UPDATE tenants SET settings = ? WHERE tenant_id = ?"
        text = settings_to_json(settings)
        return await self._db.write(lambda c: c.execute(sql, (text, tenant_id)).rowcount == 1)


class SqliteClientStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, client: Client) -> None:
        values = _client.encode(client)
        await self._db.write(lambda c: c.execute(_client.insert, values))

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        row = await self._db.read(lambda c: c.execute(_GET_CLIENT, (tenant_id, client_id)).fetchone())
        return _client.decode_optional(row)

    async def list(self, tenant_id: TenantId) -> builtins.list[Client]:
        """On the worker thread: a tenant may hold thousands of clients."""
        return await self._db.offload(
            lambda c: [_client.decode(row) for row in c.execute(_LIST_CLIENTS, (tenant_id,))], write=False
        )

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        sql = "UPDATE clients SET disabled = ? WHERE tenant_id = ? AND client_id = ?"
        return await self._db.write(lambda c: c.execute(sql, (disabled, tenant_id, client_id)).rowcount == 1)


class SqliteUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: User) -> None:
        """Raises :class:`AlreadyExists` for a taken username or user id in the tenant."""
        values = _user.encode(user)
        await self._db.write(lambda c: c.execute(_user.insert, values))

    async def get(self, tenant_id: TenantId, user_id: str) -> User | None:
        row = await self._db.read(lambda c: c.execute(_GET_USER, (tenant_id, user_id)).fetchone())
        return _user.decode_optional(row)

    async def get_by_username(self, tenant_id: TenantId, username: str) -> User | None:
        row = await self._db.read(lambda c: c.execute(_GET_USER_BY_NAME, (tenant_id, username)).fetchone())
        return _user.decode_optional(row)

    async def set_disabled(self, tenant_id: TenantId, user_id: str, disabled: bool) -> bool:
        sql = "UPDATE users SET disabled = ? WHERE tenant_id = ? AND user_id = ?"
        return await self._db.write(lambda c: c.execute(sql, (disabled, tenant_id, user_id)).rowcount == 1)

    async def list(self, tenant_id: TenantId) -> builtins.list[User]:
        """On the worker thread: a tenant may hold many users."""
        return await self._db.offload(
            lambda c: [_user.decode(row) for row in c.execute(_LIST_USERS, (tenant_id,))], write=False
        )

    async def set_password_hash(self, tenant_id: TenantId, user_id: str, password_hash: str) -> bool:
        sql = "UPDATE users SET password_hash = ? WHERE tenant_id = ? AND user_id = ?"
        return await self._db.write(lambda c: c.execute(sql, (password_hash, tenant_id, user_id)).rowcount == 1)
