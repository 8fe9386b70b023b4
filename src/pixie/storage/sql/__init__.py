"""The schema and its migrations for both backends, the SQLAlchemy implementation of the storage ports, and the
dispatch that serves SQLite files with the lean backend of :mod:`pixie.storage.sqlite` and PostgreSQL with the
asyncpg backend of :mod:`pixie.storage.pg`; the engine itself only checks and migrates.

``open_storage(url)`` checks, migrates and opens a database and closes it on exit (what ``pixie serve`` and the CLI
use). Lower level: ``create_engine(url)`` → ``await migrate(engine)`` → ``build_storage(engine)``;
``check_connection`` tells a reachable database from one that is not. No module-level state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import util as sa_util
from sqlalchemy.engine import Engine
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

if TYPE_CHECKING:
    from pixie.storage.pg import Database as PgDatabase

__all__ = ["build_storage", "check_connection", "create_engine", "migrate", "normalize_url", "open_storage"]


def build_storage(engine: AsyncEngine) -> Storage:
    """Every store, on ``engine``'s database (which must be migrated: see :func:`migrate`).

    A SQLite file gets the lean backend (:mod:`pixie.storage.sqlite`) on the same file, with its own connections:
    they close when the stores are dropped (:func:`open_storage` closes them explicitly). PostgreSQL gets the
    asyncpg backend (:mod:`pixie.storage.pg`) on the same database, with its own connections: they close when the
    engine is disposed, as the engine's own do, and reopen on the next call. The engine is then only needed to
    migrate. Any other dialect (none that :func:`create_engine` makes) would get the SQLAlchemy stores on it.
    """
    if engine.dialect.name == "sqlite":
        from pixie.storage.sqlite import Database, build_sqlite_storage  # imports this package's modules

        return build_sqlite_storage(Database(_sqlite_file(engine)))
    if engine.dialect.name == "postgresql":
        from pixie.storage import pg  # imports this package's modules

        db = pg.Database(_libpq_dsn(engine))
        event.listen(engine.sync_engine, "engine_disposed", _disposer(db))
        return pg.build_pg_storage(db)
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


def _libpq_dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _disposer(db: PgDatabase) -> Callable[[Engine], None]:
    def dispose(engine: Engine) -> None:
        # AsyncEngine.dispose() runs this inside SQLAlchemy's greenlet, where awaiting is allowed: close the
        # backend's connections gracefully. A synchronous dispose() cuts them off instead.
        try:
            sa_util.await_(db.dispose())
        except sa.exc.MissingGreenlet:
            db.dispose_now()

    return dispose


@asynccontextmanager
async def open_storage(url: str) -> AsyncIterator[Storage]:
    """Check that the database at ``url`` answers, migrate it, and yield every store on it; close on exit.

    Raises :class:`~pixie.storage.interfaces.StorageUnavailable` (one line, no password) when it cannot be used.
    The engine is disposed once migrated: both backends keep their own connections.
    """
    engine = create_engine(url)
    try:
        await check_connection(engine)
        await migrate(engine)
        await engine.dispose()
        if engine.dialect.name == "postgresql":
            from pixie.storage.pg import open_pg_storage

            async with open_pg_storage(_libpq_dsn(engine)) as storage:
                yield storage
        elif engine.dialect.name == "sqlite":
            from pixie.storage.sqlite import open_sqlite_storage

            with open_sqlite_storage(_sqlite_file(engine)) as storage:
                yield storage
        else:
            yield build_storage(engine)
    finally:
        await engine.dispose()
