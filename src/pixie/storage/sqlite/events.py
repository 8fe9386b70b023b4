"""Flow events kept for analytics (lean SQLite backend; stored in batches: see :mod:`pixie.storage.event_batches`).

Queries (a dashboard's week of events) run on the worker thread
(:meth:`~pixie.storage.sqlite.database.Database.offload`): bulk work that must not stall the event loop. Appends run
inline: see :meth:`SqliteEventStore.append` for why.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial

from pixie.storage import event_batches
from pixie.storage.records import Event, EventData
from pixie.storage.sqlite.database import Database
from pixie.types import TenantId, Timestamp

__all__ = ["SqliteEventStore"]

_INSERT = "INSERT INTO event_batches (tenant_id, first_at, last_at, size, events) VALUES (?, ?, ?, ?, ?)"
_QUERY = "SELECT events FROM event_batches WHERE tenant_id = ? AND last_at >= ? AND first_at < ? ORDER BY id"
_PURGE = "DELETE FROM event_batches WHERE last_at < ? RETURNING size"  # RETURNING: SQLite 3.35 (2021)


def _insert(connection: sqlite3.Connection, *, rows: list[event_batches.Batch]) -> None:
    connection.executemany(_INSERT, rows)


class SqliteEventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, events: Sequence[EventData]) -> None:
        """A row per tenant (and per :data:`~pixie.storage.event_batches.BATCH_SIZE` events), in one transaction.

        Inline on the loop, not on the worker thread: a statement there releases and retakes the GIL, and with the
        server on one core each hand-off between the two threads is a context switch. Measured on ``/introspect``
        (one event per call), events cost 77 µs of server CPU per call written from the worker thread, a row per
        event; a batch of 500 events is one JSON encoding and one short transaction on the loop."""
        rows = event_batches.encode(events)
        if rows:
            await self._db.write(partial(_insert, rows=rows))

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time (then by insertion); ``kinds`` filters when given."""

        def select(connection: sqlite3.Connection) -> list[str]:
            return [row[0] for row in connection.execute(_QUERY, (tenant_id, since, until))]

        batches = await self._db.offload(select, write=False)
        return event_batches.decode(tenant_id, batches, since, until, kinds)

    async def purge_before(self, before: Timestamp) -> int:
        """Whole batches older than ``before``, on the worker thread (it may be a long delete)."""

        def delete(connection: sqlite3.Connection) -> int:
            return sum(row[0] for row in connection.execute(_PURGE, (before,)))

        return await self._db.offload(delete, write=True)
