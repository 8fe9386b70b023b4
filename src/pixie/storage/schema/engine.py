"""Database URLs, the SQLAlchemy engine that checks and migrates a database (with SQLite's pragmas and transaction
control), and the reachability check."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from pixie.storage.interfaces import StorageUnavailable
from pixie.storage.schema.errors import describe, is_unavailable
from pixie.storage.schema.urls import normalize_url

__all__ = ["BEGIN_IMMEDIATE", "SQLITE_BUSY_TIMEOUT_MS", "check_connection", "create_engine", "normalize_url"]

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for the file lock before failing with "database is locked"."""

BEGIN_IMMEDIATE = "pixie_begin_immediate"
"""Execution option marking a connection whose transaction will write (see :func:`_begin_sqlite`)."""

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (normalised first). SQLite gets WAL, foreign keys and a busy timeout on every
    connection, and explicit ``BEGIN`` statements (see :func:`_begin_sqlite`); a missing SQLite file is created
    readable by its owner only, with its ``-wal`` and ``-shm`` files.

    The engine only checks and migrates the schema; the drivers (:mod:`pixie.storage.sqlite`,
    :mod:`pixie.storage.pg`) serve the database on their own connections.
    """
    async_url = normalize_url(url)
    if async_url.startswith("sqlite"):
        from pixie.storage.sqlite.database import create_private_file  # the driver a URL names, and only that one

        engine = create_async_engine(async_url)
        # The engine's first connection creates a missing file: create it private first (the -wal and -shm files
        # SQLite adds take its permissions).
        create_private_file(engine.url.database or "")
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        return engine
    # pre_ping replaces pooled connections that died with a server restart instead of failing one request.
    return create_async_engine(async_url, pool_pre_ping=True)


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    # sqlite3's legacy mode issues BEGIN only before DML, so a SELECT that precedes an UPDATE would run outside
    # the transaction; turn that off and let _begin_sqlite emit BEGIN for every transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] not in ("wal", "memory"):
            _switch_to_wal(cursor)
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    # WAL is a property of the file, so the first connection that manages it converts the database for all. The
    # switch needs the exclusive lock, and SQLite refuses at once (busy_timeout does not apply: waiting could
    # deadlock) while another connection holds a write transaction, e.g. a second process migrating a new file.
    # This connection then works in the current mode and a later one converts the file.
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF not in (_SQLITE_BUSY, _SQLITE_LOCKED):
            raise


def _begin_sqlite(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY (the busy handler is not
    # used) when another writer committed in between; BEGIN IMMEDIATE takes the write lock up front and waits
    # for it through busy_timeout instead. Readers keep DEFERRED so they never block on writers under WAL.
    immediate = connection.get_execution_options().get(BEGIN_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _safe_url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


async def check_connection(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raise :class:`StorageUnavailable` with a one-line message when that fails."""
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        if is_unavailable(exc) or isinstance(exc, sa.exc.DBAPIError):
            raise StorageUnavailable(f"cannot use the database at {_safe_url(engine)}: {describe(exc)}") from exc
        raise
