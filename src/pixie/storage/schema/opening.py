"""``open_storage(url)``: make sure the database at a URL has the newest schema, then open the driver that serves it.

A database already at the newest revision is opened with one query on the driver's own library (``sqlite3`` or
asyncpg): SQLAlchemy and Alembic are imported only to create, check or migrate a database that needs it, which is
most of what a short command such as ``pixie clients list`` would otherwise spend its time on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from pixie.storage.interfaces import Storage
from pixie.storage.schema.revisions import head_revision
from pixie.storage.schema.urls import libpq_dsn, normalize_url, sqlite_file

if TYPE_CHECKING:
    import asyncpg

__all__ = ["open_storage", "postgresql_settings", "schema_is_current"]

_VERSION_QUERY = "SELECT version_num FROM alembic_version"


async def schema_is_current(url: str) -> bool:
    """True when the database at ``url`` answers and records the newest revision; False for anything else (no file,
    no table, an older revision, no answer): the caller then takes the full path, which says what is wrong."""
    head = head_revision()
    if head is None:
        return False
    path = sqlite_file(url)
    if path is not None:
        return _sqlite_version(path) == head
    if normalize_url(url).startswith("postgresql"):
        return await _postgresql_version(libpq_dsn(url)) == head
    return False


def _sqlite_version(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        # mode=rw: never create a file here (a new database is created private, by the full path).
        uri = f"file:{quote(str(path.absolute()))}?mode=rw"
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as connection:
            row = connection.execute(_VERSION_QUERY).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row is not None else None


@asynccontextmanager
async def _postgresql(dsn: str) -> AsyncIterator[asyncpg.Connection | None]:
    """A short-lived connection on asyncpg itself, or None when the server does not answer."""
    import asyncpg  # the PostgreSQL driver's library, for a PostgreSQL URL only

    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError, ValueError):
        yield None
        return
    try:
        yield connection
    finally:
        await connection.close()


async def _postgresql_version(dsn: str) -> str | None:
    import asyncpg

    async with _postgresql(dsn) as connection:
        if connection is None:
            return None
        try:
            value = await connection.fetchval(_VERSION_QUERY)
        except asyncpg.PostgresError:
            return None
    return None if value is None else str(value)


async def postgresql_settings(url: str, names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``names`` as the PostgreSQL server at ``url`` reports them to a new connection: setting and source
    (``configuration file``, ``database``, ``user``, ``default`` ...), for ``pixie doctor``. Empty when the server
    does not answer or ``url`` is not PostgreSQL's."""
    import asyncpg

    if not normalize_url(url).startswith("postgresql"):
        return {}
    async with _postgresql(libpq_dsn(url)) as connection:
        if connection is None:
            return {}
        try:
            rows = await connection.fetch(
                "SELECT name, setting, source FROM pg_settings WHERE name = ANY($1::text[])", list(names)
            )
        except asyncpg.PostgresError:
            return {}
    return {row["name"]: (row["setting"], row["source"]) for row in rows}


async def _check_and_migrate(url: str) -> None:
    from pixie.storage.schema.engine import check_connection, create_engine
    from pixie.storage.schema.migrate import migrate

    engine = create_engine(url)
    try:
        await check_connection(engine)
        await migrate(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_storage(url: str) -> AsyncIterator[Storage]:
    """Check that the database at ``url`` answers, migrate it unless it is current, and yield every store on it,
    served by its driver; close on exit.

    Raises :class:`~pixie.storage.interfaces.StorageUnavailable` (one line, no password) when it cannot be used,
    and :class:`ValueError` for a URL of another kind. The migration's engine is disposed before the stores open.
    """
    normalized = normalize_url(url)
    if not await schema_is_current(url):
        await _check_and_migrate(url)
    if normalized.startswith("postgresql"):
        from pixie.storage.pg import open_pg_storage  # the driver a URL names, and only that one

        async with open_pg_storage(libpq_dsn(url)) as storage:
            yield storage
    else:
        from pixie.storage.sqlite import open_sqlite_storage

        path = sqlite_file(url)
        with open_sqlite_storage(str(path) if path is not None else "") as storage:
            yield storage
