"""Flow events in batches: the ``events`` table becomes ``event_batches`` and an ``events`` view over it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

A row per event cost most of what events cost the token endpoint (issue 8); a row now holds up to 500 events of one
tenant as a JSON array (see :mod:`pixie.storage.statements.events`). Existing events move into batches in the order they
were written. The ``events`` view keeps one row per event, with the old columns, for SQL readers.

Written by hand and frozen, like 0001: plain types only, and the event layout spelled out here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
_EVENT_COLUMNS = ("created_at", "kind", "outcome", "client_id", "error", "duration_ms", "correlation_id", "detail")

# One row per event: batch id * 1000 + position keeps ids unique and in insertion order (batches hold < 1,000).
_VIEW = {
    # json_extract, not ->> (SQLite 3.38+): JSON1 has it since 3.9. Scalars come back as SQL values, the detail
    # object as JSON text.
    "sqlite": """
        CREATE VIEW events
            (id, tenant_id, kind, outcome, created_at, client_id, error, duration_ms, correlation_id, detail) AS
        SELECT b.id * 1000 + e.key, b.tenant_id,
               json_extract(e.value, '$[1]'), json_extract(e.value, '$[2]'), json_extract(e.value, '$[0]'),
               json_extract(e.value, '$[3]'), json_extract(e.value, '$[4]'), json_extract(e.value, '$[5]'),
               json_extract(e.value, '$[6]'), json_extract(e.value, '$[7]')
        FROM event_batches AS b, json_each(b.events) AS e
    """,
    "postgresql": """
        CREATE VIEW events
            (id, tenant_id, kind, outcome, created_at, client_id, error, duration_ms, correlation_id, detail) AS
        SELECT b.id * 1000 + e.position - 1, b.tenant_id, e.value ->> 1, e.value ->> 2,
               (e.value ->> 0)::double precision, e.value ->> 3, e.value ->> 4, (e.value ->> 5)::double precision,
               e.value ->> 6, e.value -> 7
        FROM event_batches AS b CROSS JOIN LATERAL json_array_elements(b.events) WITH ORDINALITY AS e(value, position)
    """,
}


def _batches_table() -> sa.TableClause:
    return sa.table(
        "event_batches",
        sa.column("tenant_id", sa.String()),
        sa.column("first_at", sa.Float()),
        sa.column("last_at", sa.Float()),
        sa.column("size", sa.Integer()),
        sa.column("events", sa.JSON()),
    )


_TYPES: dict[str, sa.types.TypeEngine[Any]] = {"created_at": sa.Float(), "duration_ms": sa.Float(), "detail": sa.JSON()}


def _events_table(*, with_id: bool = True) -> sa.TableClause:
    names = ("id", "tenant_id", *_EVENT_COLUMNS) if with_id else ("tenant_id", *_EVENT_COLUMNS)
    return sa.table("events", *(sa.column(name, _TYPES.get(name, sa.String())) for name in names))


def _detail(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # a view's JSON comes back as text


def upgrade() -> None:
    op.create_table(
        "event_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("first_at", sa.Float(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_batches"),
    )
    op.create_index("ix_event_batches_tenant_id_last_at", "event_batches", ["tenant_id", "last_at"])
    connection = op.get_bind()
    events = _events_table()
    batches: dict[str, list[list[Any]]] = {}
    rows = connection.execute(sa.select(events).order_by(events.c.id))
    for row in rows.mappings():
        items = batches.setdefault(row["tenant_id"], [])
        items.append([*(row[name] for name in _EVENT_COLUMNS[:7]), _detail(row["detail"])])
    values = [
        {
            "tenant_id": tenant_id,
            "first_at": min(item[0] for item in chunk),
            "last_at": max(item[0] for item in chunk),
            "size": len(chunk),
            "events": chunk,
        }
        for tenant_id, items in batches.items()
        for chunk in (items[start : start + _BATCH] for start in range(0, len(items), _BATCH))
    ]
    if values:
        connection.execute(_batches_table().insert(), values)
    op.drop_table("events")
    op.execute(_VIEW[connection.dialect.name])


def downgrade() -> None:
    connection = op.get_bind()
    saved = [
        {**row, "detail": _detail(row["detail"])}
        for row in connection.execute(sa.select(_events_table()).order_by(sa.text("id"))).mappings()
    ]
    op.execute("DROP VIEW events")
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_tenant_id_created_at", "events", ["tenant_id", "created_at"])
    if saved:
        rows = [{name: value for name, value in row.items() if name != "id"} for row in saved]
        connection.execute(_events_table(with_id=False).insert(), rows)
    op.drop_table("event_batches")
