"""The schema and its dispatch: SQLAlchemy tables, the Alembic migrations shipped in the package, and
:func:`open_storage`, which checks and migrates the database at a URL and opens the driver that serves it.

SQLAlchemy is used here only, for schema and migrations; SQLite files are served by :mod:`pixie.storage.sqlite` and
PostgreSQL by :mod:`pixie.storage.pg`, each on its own connections. Lower level: ``create_engine(url)`` →
``await migrate(engine)``; ``check_connection`` tells a reachable database from one that is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine

from pixie.storage.interfaces import Storage
from pixie.storage.schema.engine import check_connection, create_engine, normalize_url
from pixie.storage.schema.migrate import migrate

__all__ = ["check_connection", "create_engine", "migrate", "normalize_url", "open_storage", "sqlite_file"]


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite database URL names (``sqlite:///data/pixie.db`` → ``data/pixie.db``), or None for any other
    URL, an in-memory database or a URL that does not parse."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def _sqlite_path(engine: AsyncEngine) -> str:
    """The file of a SQLite engine (empty or ``:memory:`` is refused by the driver: it needs a file)."""
    return engine.url.database or ""


def _libpq_dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def open_storage(url: str) -> AsyncIterator[Storage]:
    """Check that the database at ``url`` answers, migrate it, and yield every store on it, served by its driver;
    close on exit.

    Raises :class:`~pixie.storage.interfaces.StorageUnavailable` (one line, no password) when it cannot be used,
    and :class:`ValueError` for a URL of another kind. The engine is disposed before the stores are opened.
    """
    engine = create_engine(url)
    try:
        await check_connection(engine)
        await migrate(engine)
    finally:
        await engine.dispose()
    if engine.dialect.name == "postgresql":
        from pixie.storage.pg import open_pg_storage  # the driver a URL names, and only that one

        async with open_pg_storage(_libpq_dsn(engine)) as storage:
            yield storage
    else:
        from pixie.storage.sqlite import open_sqlite_storage

        with open_sqlite_storage(_sqlite_path(engine)) as storage:
            yield storage
