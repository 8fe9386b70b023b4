"""The SQL implementation of the storage ports (PostgreSQL, scale-out), the schema and its migrations for both
backends, and the dispatch that serves SQLite files with the lean backend of :mod:`pixie.storage.sqlite`.

``open_storage(url)`` checks, migrates and opens a database and closes it on exit (what ``pixie serve`` and the CLI
use). Lower level: ``create_engine(url)`` → ``await migrate(engine)`` → ``build_storage(engine)``;
``check_connection`` tells a reachable database from one that is not. No module-level state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from pixie.storage.interfaces import Storage
from pixie.storage.sql.authorization import SqlAuthorizationRequestStore, SqlCodeStore
from pixie.storage.sql.directory import SqlClientStore, SqlTenantStore, SqlUserStore
from pixie.storage.sql.engine import check_connection, create_engine, normalize_url
from pixie.storage.sql.events import SqlEventStore
from pixie.storage.sql.keys import SqlKeyStore
from pixie.storage.sql.migrate import migrate
from pixie.storage.sql.refresh import SqlAccessTokenDenyList, SqlRefreshTokenStore
from pixie.storage.sql.sessions import SqlConsentStore, SqlSessionStore

__all__ = ["build_storage", "check_connection", "create_engine", "migrate", "normalize_url", "open_storage"]


def build_storage(engine: AsyncEngine) -> Storage:
    """Every store, on ``engine``'s database (which must be migrated: see :func:`migrate`).

    PostgreSQL gets the SQL stores on ``engine``. A SQLite file gets the lean backend
    (:mod:`pixie.storage.sqlite`) on the same file, with its own connections: they close when the stores are
    dropped (:func:`open_storage` closes them explicitly), and the engine is then only needed to migrate.
    """
    if engine.dialect.name == "sqlite":
        from pixie.storage.sqlite import Database, build_sqlite_storage  # imports this package's modules

        return build_sqlite_storage(Database(_sqlite_file(engine)))
    return Storage(
        tenants=SqlTenantStore(engine),
        clients=SqlClientStore(engine),
        users=SqlUserStore(engine),
        sessions=SqlSessionStore(engine),
        consents=SqlConsentStore(engine),
        requests=SqlAuthorizationRequestStore(engine),
        codes=SqlCodeStore(engine),
        refresh=SqlRefreshTokenStore(engine),
        denylist=SqlAccessTokenDenyList(engine),
        keys=SqlKeyStore(engine),
        events=SqlEventStore(engine),
    )


def _sqlite_file(engine: AsyncEngine) -> str:
    return engine.url.database or ""  # empty or ":memory:" is refused by Database: the lean backend needs a file


@asynccontextmanager
async def open_storage(url: str) -> AsyncIterator[Storage]:
    """Check that the database at ``url`` answers, migrate it, and yield every store on it; close on exit.

    Raises :class:`~pixie.storage.interfaces.StorageUnavailable` (one line, no password) when it cannot be used.
    On SQLite the engine is disposed once migrated: the lean backend keeps its own connections.
    """
    engine = create_engine(url)
    try:
        await check_connection(engine)
        await migrate(engine)
        if engine.dialect.name != "sqlite":
            yield build_storage(engine)
            return
        await engine.dispose()
        from pixie.storage.sqlite import open_sqlite_storage

        with open_sqlite_storage(_sqlite_file(engine)) as storage:
            yield storage
    finally:
        await engine.dispose()
