"""Flow events kept for analytics (the dashboard, ``pixie stats``), stored in batches: a row per tenant per flush.

Events arrive thousands a second and are read rarely. A row per event would cost an ``INSERT`` with nine bound
columns and a second B-tree for the time index per event, the largest part of what events cost the token endpoint;
a batch is one ``INSERT`` of a compact JSON array, ordered as written, with the time range it covers. A query reads
the batches that overlap its window and keeps the events inside it. The ``events`` view (migration 0002) expands
the batches back into one row per event for SQL readers.

Each event is the array ``[created_at, kind, outcome, client_id, error, duration_ms, correlation_id, detail]``
(:data:`FIELDS`); a batch holds at most :data:`BATCH_SIZE` of them, so ``batch id * 1000 + position`` numbers the
view's rows in insertion order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import orjson

from pixie.storage.records import Event, EventData
from pixie.storage.statements.dialect import Params, Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["BATCH_SIZE", "FIELDS", "SqlEventStore", "decode", "encode"]

FIELDS = ("created_at", "kind", "outcome", "client_id", "error", "duration_ms", "correlation_id", "detail")
BATCH_SIZE = 500
"""Events per stored batch at most (below 1,000: the ``events`` view numbers rows ``batch id * 1000 + position``)."""

INSERT_BATCH = Statement(
    "INSERT INTO event_batches (tenant_id, first_at, last_at, size, events) "
    "VALUES (:tenant_id, :first_at, :last_at, :size, :events)"
)
QUERY_BATCHES = Statement(
    "SELECT events FROM event_batches "
    "WHERE tenant_id = :tenant_id AND last_at >= :since AND first_at < :until ORDER BY id"
)
PURGE_BATCHES = Statement("DELETE FROM event_batches WHERE last_at < :before RETURNING size")


def encode(events: Sequence[EventData]) -> list[Params]:
    """The rows that store ``events``: grouped by tenant, in the order given, at most :data:`BATCH_SIZE` each."""
    by_tenant: dict[str, list[list[Any]]] = {}
    for event in events:
        item = [
            event.created_at,
            event.kind,
            event.outcome,
            event.client_id,
            event.error,
            event.duration_ms,
            event.correlation_id,
            event.detail,
        ]
        group = by_tenant.get(event.tenant_id)
        if group is None:
            by_tenant[event.tenant_id] = [item]
        else:
            group.append(item)
    rows: list[Params] = []
    for tenant_id, items in by_tenant.items():
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start : start + BATCH_SIZE]
            times = [item[0] for item in chunk]
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "first_at": min(times),
                    "last_at": max(times),
                    "size": len(chunk),
                    "events": orjson.dumps(chunk).decode(),
                }
            )
    return rows


def decode(
    tenant_id: TenantId,
    batches: Iterable[str | bytes | list[Any]],
    since: Timestamp,
    until: Timestamp,
    kinds: Sequence[str] | None = None,
) -> list[Event]:
    """The events of ``batches`` (read in insertion order) in ``[since, until)``, of ``kinds`` when given, ordered by
    time and then by insertion. A batch is JSON text, or the list a driver already decoded."""
    wanted = None if kinds is None else frozenset(kinds)
    found: list[Event] = []
    for batch in batches:
        items = orjson.loads(batch) if isinstance(batch, str | bytes) else batch
        for at, kind, outcome, client_id, error, duration_ms, correlation_id, detail in items:
            if since <= at < until and (wanted is None or kind in wanted):
                found.append(Event(tenant_id, kind, outcome, at, client_id, error, duration_ms, correlation_id, detail))
    found.sort(key=attrgetter("created_at"))  # stable: ties keep insertion order
    return found


class SqlEventStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def append(self, events: Sequence[EventData]) -> None:
        """A row per tenant (and per :data:`BATCH_SIZE` events), in one transaction.

        Not bulk: on SQLite this runs on the event loop, where a batch is one short transaction. On the worker
        thread each statement would release and retake the GIL, and with the server on one core every hand-off
        between the two threads is a context switch."""
        rows = encode(events)
        if rows:
            await self._db.transaction([(INSERT_BATCH, rows)])

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time (then by insertion); ``kinds`` filters when given. Bulk: a
        dashboard reads a week of events."""
        params = {"tenant_id": tenant_id, "since": since, "until": until}
        rows = await self._db.fetch_all(QUERY_BATCHES, params, bulk=True)
        return decode(tenant_id, (row[0] for row in rows), since, until, kinds)

    async def purge_before(self, before: Timestamp) -> int:
        """Whole batches older than ``before``, across tenants (bulk: it may be a long delete)."""
        return sum(row[0] for row in await self._db.execute_returning(PURGE_BATCHES, {"before": before}, bulk=True))
