"""Flow events kept for analytics (lean SQLite backend; semantics of :mod:`pixie.storage.sql.events`).

Queries (a dashboard's week of events) run on the worker thread
(:meth:`~pixie.storage.sqlite.database.Database.offload`): bulk work that must not stall the event loop. Appends run
inline in small transactions: see :meth:`SqliteEventStore.append` for why.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson

from pixie.storage.records import Event
from pixie.storage.sqlite.codec import RecordCodec
from pixie.storage.sqlite.database import Database
from pixie.types import TenantId, Timestamp

__all__ = ["SqliteEventStore"]

_event = RecordCodec(Event, "events")
ROW_ORDER = ("tenant_id", "kind", "outcome", "created_at", "client_id", "error", "duration_ms", "correlation_id")
"""The columns :func:`_row` writes, in order, before ``detail`` (a test holds it to the table's columns)."""


def _insert(connection: sqlite3.Connection, *, rows: list[tuple[Any, ...]]) -> None:
    connection.executemany(_event.insert, rows)


def _row(event: Event) -> tuple[Any, ...]:
    """``_event.encode(event)`` written out: events are stored thousands per second, and the generic codec costs
    2–4 µs a row where this costs 0.2 µs. ``detail`` is compact JSON (both backends read any JSON)."""
    return (
        event.tenant_id,
        event.kind,
        event.outcome,
        event.created_at,
        event.client_id,
        event.error,
        event.duration_ms,
        event.correlation_id,
        orjson.dumps(event.detail).decode(),
    )


_CHUNK = 100
_WINDOW = "tenant_id = ? AND created_at >= ? AND created_at < ?"


class SqliteEventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, events: Sequence[Event]) -> None:
        """The batch in transactions of at most :data:`_CHUNK` rows, one ``executemany`` INSERT each (events of
        several tenants may share one).

        Inline on the loop, not on the worker thread: a statement there releases and retakes the GIL at every row,
        and with the server on one core each hand-off between the two threads is a context switch. Measured on
        ``/introspect`` (one event per call), events cost 77 µs of server CPU per call written from the worker
        thread against a few µs here; a chunk of 100 rows holds the loop for about 0.2 ms."""
        for start in range(0, len(events), _CHUNK):
            rows = [_row(event) for event in events[start : start + _CHUNK]]
            await self._db.write(partial(_insert, rows=rows))

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time (then by insertion); ``kinds`` filters when given."""
        where, params = _WINDOW, [tenant_id, since, until]
        if kinds is not None:
            where += f" AND kind IN ({', '.join('?' * len(kinds))})"  # one placeholder per kind
            params.extend(kinds)
        sql = _event.select(where, order_by="created_at, id")

        def select(connection: sqlite3.Connection) -> list[Event]:
            return [_event.decode(row) for row in connection.execute(sql, params)]

        return await self._db.offload(select, write=False)
