"""Flow events kept for analytics (PostgreSQL backend; semantics of :mod:`pixie.storage.sql.events`)."""

from __future__ import annotations

from collections.abc import Sequence

from pixie.storage.pg.codec import RecordCodec
from pixie.storage.pg.database import Database
from pixie.storage.records import Event
from pixie.types import TenantId, Timestamp

__all__ = ["PgEventStore"]

_event = RecordCodec(Event, "events")
_WINDOW = "tenant_id = $1 AND created_at >= $2 AND created_at < $3"
_QUERY = _event.select(_WINDOW, order_by="created_at, id")
_QUERY_KINDS = _event.select(f"{_WINDOW} AND kind = ANY($4::varchar[])", order_by="created_at, id")


class PgEventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, events: Sequence[Event]) -> None:
        """One pipelined executemany INSERT for the whole batch, in one transaction (events of several tenants may
        share it)."""
        if not events:
            return
        rows = [_event.encode(event) for event in events]
        async with self._db.transaction() as connection:
            await connection.executemany(_event.insert, rows)

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time (then by insertion); ``kinds`` filters when given."""
        if kinds is None:
            rows = await self._db.fetch(_QUERY, tenant_id, since, until)
        else:
            rows = await self._db.fetch(_QUERY_KINDS, tenant_id, since, until, list(kinds))
        return [_event.decode(row) for row in rows]
