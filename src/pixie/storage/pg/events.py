"""Flow events kept for analytics (PostgreSQL backend; stored in batches: see :mod:`pixie.storage.event_batches`)."""

from __future__ import annotations

from collections.abc import Sequence

from pixie.storage import event_batches
from pixie.storage.pg.database import Database
from pixie.storage.records import Event, EventData
from pixie.types import TenantId, Timestamp

__all__ = ["PgEventStore"]

_INSERT = "INSERT INTO event_batches (tenant_id, first_at, last_at, size, events) VALUES ($1, $2, $3, $4, $5)"
_QUERY = "SELECT events FROM event_batches WHERE tenant_id = $1 AND last_at >= $2 AND first_at < $3 ORDER BY id"
_PURGE = "WITH gone AS (DELETE FROM event_batches WHERE last_at < $1 RETURNING size) SELECT sum(size) FROM gone"


class PgEventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, events: Sequence[EventData]) -> None:
        """A row per tenant (and per :data:`~pixie.storage.event_batches.BATCH_SIZE` events), in one transaction."""
        rows = event_batches.encode(events)
        if not rows:
            return
        if len(rows) == 1:
            await self._db.execute(_INSERT, *rows[0])
            return
        async with self._db.transaction() as connection:
            await connection.executemany(_INSERT, rows)

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time (then by insertion); ``kinds`` filters when given."""
        rows = await self._db.fetch(_QUERY, tenant_id, since, until)
        return event_batches.decode(tenant_id, (row[0] for row in rows), since, until, kinds)

    async def purge_before(self, before: Timestamp) -> int:
        row = await self._db.write_row(_PURGE, before)
        return int(row[0] or 0) if row is not None else 0
