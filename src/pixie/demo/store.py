"""The demo's SQLite store of properties and renters, in a file of its own beside the Pixie database.

One aiosqlite connection per app: its worker thread runs the queries, so the event loop never blocks on disk, and a
lock keeps each write (statement + read-back) in one piece while other requests read.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import aiosqlite

from pixie.demo.models import Property, PropertyFields, Renter

__all__ = ["MAX_PROPERTY_ID", "PropertyStore", "SEED_PROPERTIES", "SEED_RENTERS", "open_store"]

MAX_PROPERTY_ID = 2**63 - 1
"""SQLite's largest INTEGER: a bigger id in a URL is simply not found."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS properties (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    city TEXT NOT NULL,
    kind TEXT NOT NULL,
    bedrooms INTEGER NOT NULL,
    monthly_rent INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    created_by TEXT
);
CREATE TABLE IF NOT EXISTS renters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    property_id INTEGER NOT NULL REFERENCES properties(id),
    lease_start TEXT NOT NULL,
    lease_end TEXT,
    monthly_rent INTEGER NOT NULL
);
"""

_PROPERTY_COLUMNS = "id, name, address, city, kind, bedrooms, monthly_rent, status, created_at, updated_at, created_by"

SEED_PROPERTIES = (
    PropertyFields("Canal House Loft", "Prinsengracht 263", "Amsterdam", "apartment", 2, 2150, "let"),
    PropertyFields("Harbour View Studio", "Kaistraße 12", "Hamburg", "studio", 0, 890, "available"),
    PropertyFields("Old Town Townhouse", "Rua das Flores 41", "Porto", "townhouse", 3, 1650, "let"),
    PropertyFields("Garden Flat", "14 Elm Grove", "Bristol", "apartment", 1, 1100, "let"),
    PropertyFields("Riverside Family Home", "Strandvejen 88", "Aarhus", "house", 4, 2400, "let"),
    PropertyFields("Market Street Shop", "Calle del Mercado 5", "Valencia", "commercial", 0, 1800, "maintenance"),
)
# (name, email, index into SEED_PROPERTIES, lease start, lease end, monthly rent)
SEED_RENTERS = (
    ("Maya Jansen", "maya.jansen@example.org", 0, date(2024, 3, 1), None, 2150),
    ("Tiago Sousa", "tiago.sousa@example.org", 2, date(2023, 9, 15), date(2026, 9, 14), 1650),
    ("Priya Patel", "priya.patel@example.org", 3, date(2025, 1, 1), None, 1100),
    ("Jonas Weber", "jonas.weber@example.org", 4, date(2025, 6, 1), date(2027, 5, 31), 2400),
)


def _property(row: sqlite3.Row) -> Property:
    return Property(
        id=row["id"],
        fields=PropertyFields(
            name=row["name"],
            address=row["address"],
            city=row["city"],
            kind=row["kind"],
            bedrooms=row["bedrooms"],
            monthly_rent=row["monthly_rent"],
            status=row["status"],
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
    )


class PropertyStore:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._write = asyncio.Lock()

    async def count_properties(self) -> int:
        rows = list(await self._db.execute_fetchall("SELECT count(*) FROM properties"))
        return int(rows[0][0])

    async def list_properties(self, *, limit: int, offset: int) -> list[Property]:
        rows = await self._db.execute_fetchall(
            f"SELECT {_PROPERTY_COLUMNS} FROM properties ORDER BY id LIMIT ? OFFSET ?",  # noqa: S608  (fixed columns)
            (limit, offset),
        )
        return [_property(row) for row in rows]

    async def get_property(self, property_id: int) -> Property | None:
        rows = list(
            await self._db.execute_fetchall(
                f"SELECT {_PROPERTY_COLUMNS} FROM properties WHERE id = ?",  # noqa: S608  (fixed columns)
                (property_id,),
            )
        )
        return _property(rows[0]) if rows else None

    async def create_property(self, fields: PropertyFields, *, created_by: str | None) -> Property:
        now = time.time()
        async with self._write:
            cursor = await self._db.execute(
                "INSERT INTO properties (name, address, city, kind, bedrooms, monthly_rent, status, created_at,"
                " updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_values(fields), now, now, created_by),
            )
            new_id = cursor.lastrowid
            await cursor.close()
            await self._db.commit()
        assert new_id is not None
        return Property(id=new_id, fields=fields, created_at=now, updated_at=now, created_by=created_by)

    async def update_property(self, property_id: int, fields: PropertyFields) -> Property | None:
        async with self._write:
            cursor = await self._db.execute(
                "UPDATE properties SET name = ?, address = ?, city = ?, kind = ?, bedrooms = ?, monthly_rent = ?,"
                " status = ?, updated_at = ? WHERE id = ?",
                (*_values(fields), time.time(), property_id),
            )
            changed = cursor.rowcount
            await cursor.close()
            await self._db.commit()
        return await self.get_property(property_id) if changed else None

    async def list_renters(self) -> list[Renter]:
        rows = await self._db.execute_fetchall(
            "SELECT r.id, r.name, r.email, r.property_id, p.name AS property_name, r.lease_start, r.lease_end,"
            " r.monthly_rent FROM renters r JOIN properties p ON p.id = r.property_id ORDER BY r.id"
        )
        return [Renter(**dict(row)) for row in rows]

    async def seed_if_empty(self) -> bool:
        """Fill a new store with :data:`SEED_PROPERTIES` and :data:`SEED_RENTERS`; leave a used one alone."""
        async with self._write:
            rows = list(await self._db.execute_fetchall("SELECT count(*) FROM properties"))
            if rows[0][0]:
                return False
            now = time.time()
            ids: list[int] = []
            for fields in SEED_PROPERTIES:
                cursor = await self._db.execute(
                    "INSERT INTO properties (name, address, city, kind, bedrooms, monthly_rent, status, created_at,"
                    " updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (*_values(fields), now, now),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
                await cursor.close()
            await self._db.executemany(
                "INSERT INTO renters (name, email, property_id, lease_start, lease_end, monthly_rent)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (name, email, ids[index], start.isoformat(), end and end.isoformat(), rent)
                    for name, email, index, start, end, rent in SEED_RENTERS
                ],
            )
            await self._db.commit()
            return True


def _values(fields: PropertyFields) -> tuple[str, str, str, str, int, int, str]:
    f = fields
    return (f.name, f.address, f.city, f.kind, f.bedrooms, f.monthly_rent, f.status)


@asynccontextmanager
async def open_store(path: Path) -> AsyncIterator[PropertyStore]:
    """Open (creating if needed) and seed the store at ``path``; close it on exit."""
    connection = await aiosqlite.connect(path)
    try:
        connection.row_factory = sqlite3.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.execute("PRAGMA busy_timeout=5000")
        await connection.executescript(_SCHEMA)
        store = PropertyStore(connection)
        await store.seed_if_empty()
        yield store
    finally:
        await connection.close()
