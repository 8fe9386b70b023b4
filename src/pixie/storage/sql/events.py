"""Flow events kept for analytics (the dashboard and ``pixie stats``), in batches: see
:mod:`pixie.storage.event_batches`."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import sqlalchemy as sa

from pixie.storage import event_batches
from pixie.storage.records import Event, EventData
from pixie.storage.sql.base import SqlStore
from pixie.storage.sql.tables import event_batches as _batches
from pixie.types import TenantId, Timestamp

__all__ = ["SqlEventStore"]

_COLUMNS = ("tenant_id", "first_at", "last_at", "size", "events")


class SqlEventStore(SqlStore):
    async def append(self, events: Sequence[EventData]) -> None:
        """A row per tenant (and per :data:`~pixie.storage.event_batches.BATCH_SIZE` events), in one transaction."""
        rows = event_batches.encode(events)
        if not rows:
            return
        async with self._write() as connection:
            # The JSON column encodes values itself: hand it the events as a list, not as JSON text.
            values = [dict(zip(_COLUMNS, (*row[:4], orjson.loads(row[4])), strict=True)) for row in rows]
            await connection.execute(_batches.insert(), values)

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time (then by insertion); ``kinds`` filters when given."""
        statement = (
            sa.select(_batches.c.events)
            .where(_batches.c.tenant_id == tenant_id, _batches.c.last_at >= since, _batches.c.first_at < until)
            .order_by(_batches.c.id)
        )
        async with self._read() as connection:
            result = await connection.execute(statement)
            return event_batches.decode(tenant_id, result.scalars(), since, until, kinds)

    async def purge_before(self, before: Timestamp) -> int:
        old = _batches.c.last_at < before
        async with self._write() as connection:
            count = (await connection.execute(sa.select(sa.func.sum(_batches.c.size)).where(old))).scalar()
            await connection.execute(_batches.delete().where(old))
            return int(count or 0)
