"""Who exists: tenants, clients and users."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from pixie.storage.records import Client, SigningKey, Tenant, TenantSettings, User
from pixie.storage.sql.base import SqlStore, record_from_row, row_from_record
from pixie.storage.sql.tables import clients, signing_keys, tenants, users
from pixie.types import TenantId

__all__ = ["SqlClientStore", "SqlTenantStore", "SqlUserStore", "settings_from_json", "settings_to_json"]

_SETTINGS_FIELDS = frozenset(field.name for field in dataclasses.fields(TenantSettings))


def settings_to_json(settings: TenantSettings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def settings_from_json(data: Mapping[str, Any]) -> TenantSettings:
    """Read stored settings: keys written by a newer Pixie are ignored, JSON arrays become tuples again (at every
    depth: ``scope_roles`` holds pairs)."""
    values: dict[str, Any] = {name: _tuples(value) for name, value in data.items() if name in _SETTINGS_FIELDS}
    return TenantSettings(**values)


def _tenant_from_row(row: RowMapping) -> Tenant:
    return Tenant(
        id=row["tenant_id"],
        display_name=row["display_name"],
        created_at=row["created_at"],
        disabled=row["disabled"],
        settings=settings_from_json(row["settings"]),
    )


class SqlTenantStore(SqlStore):
    async def create(self, tenant: Tenant) -> None:
        async with self._write() as connection:
            await connection.execute(
                tenants.insert().values(
                    tenant_id=tenant.id,
                    display_name=tenant.display_name,
                    created_at=tenant.created_at,
                    disabled=tenant.disabled,
                    settings=settings_to_json(tenant.settings),
                )
            )

    async def create_many(self, new_tenants: Sequence[Tenant], keys: Sequence[SigningKey]) -> None:
        """Two multi-row inserts in one transaction: thousands of tenants cost one commit, not thousands."""
        if not new_tenants:
            return
        async with self._write() as connection:
            await connection.execute(
                tenants.insert(),
                [
                    {
                        "tenant_id": tenant.id,
                        "display_name": tenant.display_name,
                        "created_at": tenant.created_at,
                        "disabled": tenant.disabled,
                        "settings": settings_to_json(tenant.settings),
                    }
                    for tenant in new_tenants
                ],
            )
            if keys:
                await connection.execute(
                    signing_keys.insert(), [{**row_from_record(key), "state": key.state.value} for key in keys]
                )

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        async with self._read() as connection:
            result = await connection.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id))
            row = result.mappings().first()
        return None if row is None else _tenant_from_row(row)

    async def set_disabled(self, tenant_id: TenantId, disabled: bool) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                tenants.update().where(tenants.c.tenant_id == tenant_id).values(disabled=disabled)
            )
        return result.rowcount == 1

    async def update_settings(self, tenant_id: TenantId, settings: TenantSettings) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                tenants.update().where(tenants.c.tenant_id == tenant_id).values(settings=settings_to_json(settings))
            )
        return result.rowcount == 1

    async def list(self) -> builtins.list[Tenant]:
        async with self._read() as connection:
            result = await connection.execute(sa.select(tenants).order_by(tenants.c.tenant_id))
            return [_tenant_from_row(row) for row in result.mappings()]


class SqlClientStore(SqlStore):
    async def create(self, client: Client) -> None:
        async with self._write() as connection:
            await connection.execute(clients.insert().values(row_from_record(client)))

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        async with self._read() as connection:
            result = await connection.execute(
                sa.select(clients).where(clients.c.tenant_id == tenant_id, clients.c.client_id == client_id)
            )
            row = result.mappings().first()
        return None if row is None else record_from_row(Client, row)

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                clients.update()
                .where(clients.c.tenant_id == tenant_id, clients.c.client_id == client_id)
                .values(disabled=disabled)
            )
        return result.rowcount == 1

    async def list(self, tenant_id: TenantId) -> builtins.list[Client]:
        async with self._read() as connection:
            result = await connection.execute(
                sa.select(clients).where(clients.c.tenant_id == tenant_id).order_by(clients.c.client_id)
            )
            return [record_from_row(Client, row) for row in result.mappings()]


class SqlUserStore(SqlStore):
    async def create(self, user: User) -> None:
        """Raises :class:`AlreadyExists` for a taken username or user id in the tenant."""
        async with self._write() as connection:
            await connection.execute(users.insert().values(row_from_record(user)))

    async def get(self, tenant_id: TenantId, user_id: str) -> User | None:
        return await self._one(users.c.tenant_id == tenant_id, users.c.user_id == user_id)

    async def get_by_username(self, tenant_id: TenantId, username: str) -> User | None:
        return await self._one(users.c.tenant_id == tenant_id, users.c.username == username)

    async def set_password_hash(self, tenant_id: TenantId, user_id: str, password_hash: str) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                users.update()
                .where(users.c.tenant_id == tenant_id, users.c.user_id == user_id)
                .values(password_hash=password_hash)
            )
        return result.rowcount == 1

    async def set_disabled(self, tenant_id: TenantId, user_id: str, disabled: bool) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                users.update()
                .where(users.c.tenant_id == tenant_id, users.c.user_id == user_id)
                .values(disabled=disabled)
            )
        return result.rowcount == 1

    async def list(self, tenant_id: TenantId) -> builtins.list[User]:
        async with self._read() as connection:
            result = await connection.execute(
                sa.select(users).where(users.c.tenant_id == tenant_id).order_by(users.c.username)
            )
            return [record_from_row(User, row) for row in result.mappings()]

    async def _one(self, *conditions: sa.ColumnElement[bool]) -> User | None:
        async with self._read() as connection:
            result = await connection.execute(sa.select(users).where(*conditions))
            row = result.mappings().first()
        return None if row is None else record_from_row(User, row)
