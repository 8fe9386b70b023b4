"""Flow events kept for analytics (the dashboard and ``pixie stats``)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from pixie.storage.records import Event
from pixie.storage.sql.base import SqlStore, record_from_row, row_from_record
from pixie.storage.sql.tables import events as _events
from pixie.types import TenantId, Timestamp

__all__ = ["SqlEventStore"]


class SqlEventStore(SqlStore):
    async def append(self, events: Sequence[Event]) -> None:
        """One executemany INSERT for the whole batch (events of several tenants may share it)."""
        if not events:
            return
        async with self._write() as connection:
            await connection.execute(_events.insert(), [row_from_record(event) for event in events])

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time (then by insertion); ``kinds`` filters when given."""
        statement = (
            sa.select(_events)
            .where(_events.c.tenant_id == tenant_id, _events.c.created_at >= since, _events.c.created_at < until)
            .order_by(_events.c.created_at, _events.c.id)
        )
        if kinds is not None:
            statement = statement.where(_events.c.kind.in_(list(kinds)))
        async with self._read() as connection:
            result = await connection.execute(statement)
            return [record_from_row(Event, row, drop=("id",)) for row in result.mappings()]
