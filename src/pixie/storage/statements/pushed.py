"""Pushed authorization requests (RFC 9126): stored when pushed, taken once by ``/authorize``."""

from __future__ import annotations

from pixie.storage.records import PushedRequest
from pixie.storage.statements.codec import RecordCodec
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["SqlPushedRequestStore"]

PUSHED = RecordCodec(PushedRequest, "pushed_requests")

# Single use in one statement: the row is deleted as it is read, so two /authorize requests with the same
# request_uri cannot both get it (RFC 9126 §4).
TAKE = Statement(
    f"DELETE FROM pushed_requests WHERE tenant_id = :tenant_id AND uri_hash = :uri_hash "  # noqa: S608
    f"RETURNING {PUSHED.columns}"
)
PURGE = Statement("DELETE FROM pushed_requests WHERE expires_at <= :now")


class SqlPushedRequestStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, request: PushedRequest) -> None:
        await self._db.execute(PUSHED.insert, PUSHED.values(request))

    async def take(self, tenant_id: TenantId, uri_hash: str, now: Timestamp) -> PushedRequest | None:
        """The request, removed; None if unknown, already taken or expired (an expired one is removed too)."""
        rows = await self._db.execute_returning(TAKE, {"tenant_id": tenant_id, "uri_hash": uri_hash})
        if not rows:
            return None
        request = PUSHED.decode(rows[0])
        return request if request.expires_at > now else None

    async def purge_expired(self, now: Timestamp) -> int:
        return await self._db.execute(PURGE, {"now": now}, bulk=True)
