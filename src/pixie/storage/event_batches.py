"""How flow events are stored: in batches, one row per tenant per flush, shared by every backend.

Events arrive thousands per second and are read rarely (the dashboard, ``pixie stats``). A row per event cost about
15 µs of server CPU each on SQLite (nine bound columns and a second B-tree for the time index), the largest part of
what events cost the token endpoint (issue 8: under 5 %). A batch is one ``INSERT`` of a compact JSON array, ordered
as written, with the time range it covers; a query reads the batches that overlap its window and keeps the events
inside it. The ``events`` view (migration 0002) expands the batches back into one row per event for SQL readers.

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
from pixie.types import TenantId, Timestamp

__all__ = ["BATCH_SIZE", "FIELDS", "Batch", "decode", "encode"]

FIELDS = ("created_at", "kind", "outcome", "client_id", "error", "duration_ms", "correlation_id", "detail")
BATCH_SIZE = 500
"""Events per stored batch at most (below 1,000: the ``events`` view numbers rows ``batch id * 1000 + position``)."""

Batch = tuple[str, float, float, int, str]
"""A row of ``event_batches``: ``(tenant_id, first_at, last_at, size, events)``, ``events`` as JSON text."""


def encode(events: Sequence[EventData]) -> list[Batch]:
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
    rows: list[Batch] = []
    for tenant_id, items in by_tenant.items():
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start : start + BATCH_SIZE]
            times = [item[0] for item in chunk]
            rows.append((tenant_id, min(times), max(times), len(chunk), orjson.dumps(chunk).decode()))
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
