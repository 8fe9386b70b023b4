"""Who exists: tenants, clients and users."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from pixie.storage.records import Client, EndedAccess, SigningKey, Tenant, TenantSettings, User
from pixie.storage.statements.access import delete_account, end_account_access
from pixie.storage.statements.codec import RecordCodec, settings_to_json
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["SqlClientStore", "SqlTenantStore", "SqlUserStore"]

TENANT = RecordCodec(Tenant, "tenants", field_map={"id": "tenant_id"})
CLIENT = RecordCodec(Client, "clients")
USER = RecordCodec(User, "users")
KEY = RecordCodec(SigningKey, "signing_keys")

GET_TENANT = TENANT.select("tenant_id = :tenant_id")
LIST_TENANTS = TENANT.select("TRUE", order_by="tenant_id")
DISABLE_TENANT = Statement("UPDATE tenants SET disabled = :disabled WHERE tenant_id = :tenant_id")
SET_SETTINGS = Statement("UPDATE tenants SET settings = :settings WHERE tenant_id = :tenant_id")
SET_DISPLAY_NAME = Statement("UPDATE tenants SET display_name = :display_name WHERE tenant_id = :tenant_id")

GET_CLIENT = CLIENT.select("tenant_id = :tenant_id AND client_id = :client_id")
LIST_CLIENTS = CLIENT.select("tenant_id = :tenant_id", order_by="client_id")
DISABLE_CLIENT = Statement(
    "UPDATE clients SET disabled = :disabled WHERE tenant_id = :tenant_id AND client_id = :client_id"
)
_CLIENT_KEY = ("tenant_id", "client_id")
UPDATE_CLIENT = Statement(
    "UPDATE clients SET "  # noqa: S608 (column names come from code)
    + ", ".join(f"{name} = :{name}" for name in CLIENT.column_names if name not in _CLIENT_KEY)
    + " WHERE tenant_id = :tenant_id AND client_id = :client_id"
)

GET_USER = USER.select("tenant_id = :tenant_id AND user_id = :user_id")
GET_USER_BY_NAME = USER.select("tenant_id = :tenant_id AND username = :username")
LIST_USERS = USER.select("tenant_id = :tenant_id", order_by="username")
DISABLE_USER = Statement("UPDATE users SET disabled = :disabled WHERE tenant_id = :tenant_id AND user_id = :user_id")
SET_PROFILE = Statement(
    "UPDATE users SET name = :name, given_name = :given_name, family_name = :family_name, email = :email, "
    "email_verified = :email_verified WHERE tenant_id = :tenant_id AND user_id = :user_id"
)
SET_PASSWORD = Statement(
    "UPDATE users SET password_hash = :password_hash WHERE tenant_id = :tenant_id AND user_id = :user_id"
)


class SqlTenantStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, tenant: Tenant) -> None:
        await self._db.execute(TENANT.insert, TENANT.values(tenant))

    async def create_many(self, tenants: Sequence[Tenant], keys: Sequence[SigningKey]) -> None:
        """Two multi-row INSERTs in one transaction (all or nothing), as bulk work: thousands of tenants cost one
        commit, and on SQLite the event loop never waits for them."""
        if not tenants:
            return
        steps = [
            (TENANT.insert, [TENANT.values(each) for each in tenants]),
            (KEY.insert, [KEY.values(k) for k in keys]),
        ]
        await self._db.transaction(steps, bulk=True)

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        return TENANT.decode_optional(await self._db.fetch_one(GET_TENANT, {"tenant_id": tenant_id}))

    async def list(self) -> builtins.list[Tenant]:
        """Bulk: a deployment may hold thousands of tenants."""
        return [TENANT.decode(row) for row in await self._db.fetch_all(LIST_TENANTS, {}, bulk=True)]

    async def set_disabled(self, tenant_id: TenantId, disabled: bool) -> bool:
        return await self._db.execute(DISABLE_TENANT, {"tenant_id": tenant_id, "disabled": disabled}) == 1

    async def update_settings(self, tenant_id: TenantId, settings: TenantSettings) -> bool:
        params = {"tenant_id": tenant_id, "settings": settings_to_json(settings)}
        return await self._db.execute(SET_SETTINGS, params) == 1

    async def set_display_name(self, tenant_id: TenantId, display_name: str) -> bool:
        params = {"tenant_id": tenant_id, "display_name": display_name}
        return await self._db.execute(SET_DISPLAY_NAME, params) == 1


class SqlClientStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, client: Client) -> None:
        await self._db.execute(CLIENT.insert, CLIENT.values(client))

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        row = await self._db.fetch_one(GET_CLIENT, {"tenant_id": tenant_id, "client_id": client_id})
        return CLIENT.decode_optional(row)

    async def list(self, tenant_id: TenantId) -> builtins.list[Client]:
        """Bulk: a tenant may hold thousands of clients."""
        return [
            CLIENT.decode(row) for row in await self._db.fetch_all(LIST_CLIENTS, {"tenant_id": tenant_id}, bulk=True)
        ]

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        params = {"tenant_id": tenant_id, "client_id": client_id, "disabled": disabled}
        return await self._db.execute(DISABLE_CLIENT, params) == 1

    async def update(self, client: Client) -> bool:
        return await self._db.execute(UPDATE_CLIENT, CLIENT.encode(client)) == 1

    async def end_access(self, tenant_id: TenantId, client_id: str, reason: str, now: Timestamp) -> EndedAccess:
        return await end_account_access(self._db, "client_id", tenant_id, client_id, reason, now)

    async def delete(self, tenant_id: TenantId, client_id: str, now: Timestamp) -> EndedAccess | None:
        return await delete_account(self._db, "client_id", tenant_id, client_id, "client_deleted", now)


class SqlUserStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, user: User) -> None:
        """Raises :class:`~pixie.storage.interfaces.AlreadyExists` for a taken username or user id in the tenant."""
        await self._db.execute(USER.insert, USER.values(user))

    async def get(self, tenant_id: TenantId, user_id: str) -> User | None:
        return USER.decode_optional(await self._db.fetch_one(GET_USER, {"tenant_id": tenant_id, "user_id": user_id}))

    async def get_by_username(self, tenant_id: TenantId, username: str) -> User | None:
        row = await self._db.fetch_one(GET_USER_BY_NAME, {"tenant_id": tenant_id, "username": username})
        return USER.decode_optional(row)

    async def list(self, tenant_id: TenantId) -> builtins.list[User]:
        """Bulk: a tenant may hold many users."""
        return [USER.decode(row) for row in await self._db.fetch_all(LIST_USERS, {"tenant_id": tenant_id}, bulk=True)]

    async def set_password_hash(self, tenant_id: TenantId, user_id: str, password_hash: str) -> bool:
        params = {"tenant_id": tenant_id, "user_id": user_id, "password_hash": password_hash}
        return await self._db.execute(SET_PASSWORD, params) == 1

    async def set_disabled(self, tenant_id: TenantId, user_id: str, disabled: bool) -> bool:
        params = {"tenant_id": tenant_id, "user_id": user_id, "disabled": disabled}
        return await self._db.execute(DISABLE_USER, params) == 1

    async def set_profile(self, user: User) -> bool:
        """Store ``user``'s profile fields (name, given_name, family_name, email, email_verified) only."""
        params = {
            "tenant_id": user.tenant_id,
            "user_id": user.user_id,
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "email": user.email,
            "email_verified": user.email_verified,
        }
        return await self._db.execute(SET_PROFILE, params) == 1

    async def end_access(self, tenant_id: TenantId, user_id: str, reason: str, now: Timestamp) -> EndedAccess:
        return await end_account_access(self._db, "user_id", tenant_id, user_id, reason, now)

    async def delete(self, tenant_id: TenantId, user_id: str, now: Timestamp) -> EndedAccess | None:
        return await delete_account(self._db, "user_id", tenant_id, user_id, "user_deleted", now)
