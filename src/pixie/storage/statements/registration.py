"""Initial access tokens for dynamic client registration (RFC 7591 §3)."""

from __future__ import annotations

import builtins

from pixie.storage.records import RegistrationToken
from pixie.storage.statements.codec import RecordCodec
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["SqlRegistrationTokenStore"]

TOKEN = RecordCodec(RegistrationToken, "registration_tokens")
GET = TOKEN.select("tenant_id = :tenant_id AND token_id = :token_id")
LIST = TOKEN.select("tenant_id = :tenant_id", order_by="created_at, token_id")
DELETE = Statement("DELETE FROM registration_tokens WHERE tenant_id = :tenant_id AND token_id = :token_id")
PURGE = Statement("DELETE FROM registration_tokens WHERE expires_at IS NOT NULL AND expires_at <= :now")


class SqlRegistrationTokenStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, token: RegistrationToken) -> None:
        await self._db.execute(TOKEN.insert, TOKEN.values(token))

    async def get(self, tenant_id: TenantId, token_id: str) -> RegistrationToken | None:
        return TOKEN.decode_optional(await self._db.fetch_one(GET, {"tenant_id": tenant_id, "token_id": token_id}))

    async def list(self, tenant_id: TenantId) -> builtins.list[RegistrationToken]:
        return [TOKEN.decode(row) for row in await self._db.fetch_all(LIST, {"tenant_id": tenant_id})]

    async def delete(self, tenant_id: TenantId, token_id: str) -> bool:
        return await self._db.execute(DELETE, {"tenant_id": tenant_id, "token_id": token_id}) == 1

    async def purge_expired(self, now: Timestamp) -> int:
        return await self._db.execute(PURGE, {"now": now}, bulk=True)
