"""Flow events kept for analytics (lean SQLite backend; semantics of :mod:`pixie.storage.sql.events`).

Both methods run on the worker thread (:meth:`~pixie.storage.sqlite.database.Database.offload`): a batch of
hundreds of rows or a dashboard's week of events is bulk work that must not stall the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
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


_WINDOW = "tenant_id = ? AND created_at >= ? AND created_at < ?"


class SqliteEventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, events: Sequence[Event]) -> None:
        """One transaction with one executemany INSERT for the whole batch (events of several tenants may share it)."""
        if not events:
            return
        rows = [_row(event) for event in events]
        await self._db.offload(lambda c: c.executemany(_event.insert, rows), write=True)

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
