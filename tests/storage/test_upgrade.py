"""A database written by an earlier Pixie keeps every record: rows stored at an earlier schema head (recorded in
``data/rows-<revision>.json`` by :mod:`storage.upgrade_data`) are loaded into a database at that revision, the current
Pixie migrates it on opening, and every record reads back equal, on both backends. Writing works afterwards too."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy.engine import Connection, make_url

from pixie.storage.schema import create_engine, open_storage
from pixie.storage.schema.migrate import alembic_config

from . import factories as f
from .factories import NOW, TENANT
from .upgrade_data import TABLES, read, records

DATA = Path(__file__).with_name("data")
RECORDED = {path.name: json.loads(path.read_text()) for path in sorted(DATA.glob("rows-*.json"))}


def _decode(value: Any) -> Any:
    return bytes.fromhex(value["$bytes"]) if isinstance(value, dict) else value


async def _at_revision(url: str, revision: str) -> None:
    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


def _insert(table: str, columns: list[str], placeholder: str) -> str:
    marks = ", ".join(placeholder.format(n=n + 1) for n in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 (names from the recording)


async def _load(url: str, dump: dict[str, Any]) -> None:
    """Insert the recorded rows as they are: the exact values the earlier Pixie stored."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        connection = sqlite3.connect(parsed.database)
        try:
            with connection:
                for table in TABLES:
                    rows = dump[table]
                    sql = _insert(table, rows["columns"], "?")
                    connection.executemany(sql, [[_decode(v) for v in row] for row in rows["rows"]])
        finally:
            connection.close()
        return
    pg = await asyncpg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        async with pg.transaction():
            for table in TABLES:
                rows = dump[table]
                sql = _insert(table, rows["columns"], "${n}")
                await pg.executemany(sql, [[_decode(v) for v in row] for row in rows["rows"]])
            # Rows were restored with their ids: move the id sequence past them, as a restore does.
            await pg.execute("SELECT setval(pg_get_serial_sequence('event_batches', 'id'), max(id)) FROM event_batches")
    finally:
        await pg.close()


def test_there_is_a_recording_of_the_last_head_but_one() -> None:
    """Guard the guard: the test below has rows to load (at least the head this package migrated from last)."""
    assert list(RECORDED)[:1] == ["rows-0003.json"]
    for dump in RECORDED.values():
        assert set(dump) == {"revision", "sqlite", "postgresql"}
        assert all(dump[backend][table]["rows"] for backend in ("sqlite", "postgresql") for table in TABLES)


@pytest.mark.parametrize("recording", RECORDED)
async def test_a_database_written_at_an_earlier_head_keeps_every_record(
    recording: str, backend: str, empty_database_url: str
) -> None:
    dump = RECORDED[recording]
    await _at_revision(empty_database_url, dump["revision"])
    await _load(empty_database_url, dump[backend])
    wanted = records()
    async with open_storage(empty_database_url) as storage:  # migrates to the head of this Pixie
        assert await read(storage, wanted) == wanted
        await storage.clients.create(f.client(client_id="after-upgrade"))
        assert await storage.clients.get(TENANT, "after-upgrade") == f.client(client_id="after-upgrade")
        await storage.events.append([f.event(kind="after-upgrade", created_at=NOW + 0.5)])
        kinds = [event.kind for event in await storage.events.query(TENANT, NOW - 1, NOW + 1)]
        assert kinds == [wanted["event"].kind, "after-upgrade"]
