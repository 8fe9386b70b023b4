"""Protected resources (RFC 8707): the APIs of a tenant that clients name in the ``resource`` parameter."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from pixie.storage.records import Resource
from pixie.storage.statements.codec import RecordCodec
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId

__all__ = ["SqlResourceStore"]

RESOURCE = RecordCodec(Resource, "resources")

_KEY = ("tenant_id", "identifier")
GET = RESOURCE.select("tenant_id = :tenant_id AND identifier = :identifier")
LIST = RESOURCE.select("tenant_id = :tenant_id", order_by="identifier")
UPDATE = Statement(
    "UPDATE resources SET "  # noqa: S608 (column names come from code)
    + ", ".join(f"{name} = :{name}" for name in RESOURCE.column_names if name not in (*_KEY, "created_at"))
    + " WHERE tenant_id = :tenant_id AND identifier = :identifier"
)
DELETE = Statement("DELETE FROM resources WHERE tenant_id = :tenant_id AND identifier = :identifier")


class SqlResourceStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, resource: Resource) -> None:
        await self._db.execute(RESOURCE.insert, RESOURCE.values(resource))

    async def get(self, tenant_id: TenantId, identifier: str) -> Resource | None:
        row = await self._db.fetch_one(GET, {"tenant_id": tenant_id, "identifier": identifier})
        return RESOURCE.decode_optional(row)

    async def get_many(self, tenant_id: TenantId, identifiers: Sequence[str]) -> builtins.list[Resource]:
        """One read per identifier: a request names one or a few resources, and each read is by primary key."""
        found = [await self.get(tenant_id, identifier) for identifier in dict.fromkeys(identifiers)]
        return [resource for resource in found if resource is not None]

    async def list(self, tenant_id: TenantId) -> builtins.list[Resource]:
        return [RESOURCE.decode(row) for row in await self._db.fetch_all(LIST, {"tenant_id": tenant_id}, bulk=True)]

    async def update(self, resource: Resource) -> bool:
        params = {k: v for k, v in RESOURCE.encode(resource).items() if k != "created_at"}
        return await self._db.execute(UPDATE, params) == 1

    async def delete(self, tenant_id: TenantId, identifier: str) -> bool:
        return await self._db.execute(DELETE, {"tenant_id": tenant_id, "identifier": identifier}) == 1
