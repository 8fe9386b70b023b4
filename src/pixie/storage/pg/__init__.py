"""The PostgreSQL driver: every storage port on :mod:`asyncpg` directly, for scale-out deployments.

The stores are those of :mod:`pixie.storage.statements`; this package adds the connection layer
(:mod:`~pixie.storage.pg.database`: a lean pool, one prepared statement and one round trip per call) and the stores
whose atomic step PostgreSQL takes in one statement (:mod:`~pixie.storage.pg.stores`).

``open_pg_storage(dsn)`` yields every store on a migrated database and closes its connections on exit;
``build_pg_storage(Database(dsn))`` does the same for a caller that manages the :class:`Database` itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pixie.storage.interfaces import Storage
from pixie.storage.pg.database import Database
from pixie.storage.pg.stores import PgCodeStore, PgConsentStore, PgRefreshTokenStore
from pixie.storage.statements import sql_storage

__all__ = ["Database", "build_pg_storage", "open_pg_storage"]


def build_pg_storage(db: Database) -> Storage:
    """Every store on ``db`` (a migrated database)."""
    return sql_storage(db, refresh=PgRefreshTokenStore(db), consents=PgConsentStore(db), codes=PgCodeStore(db))


@asynccontextmanager
async def open_pg_storage(dsn: str) -> AsyncIterator[Storage]:
    """Every store on the migrated PostgreSQL database at ``dsn`` (a libpq URL); its connections close on exit."""
    db = Database(dsn)
    try:
        yield build_pg_storage(db)
    finally:
        await db.close()
