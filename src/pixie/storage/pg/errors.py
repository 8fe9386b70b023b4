"""Translate :mod:`asyncpg` failures into the storage errors callers handle.

``AlreadyExists``      ← a primary-key or unique violation (SQLSTATE 23505).
``StorageUnavailable`` ← the database cannot be reached or used right now: socket errors and timeouts (connecting
or waiting for a free connection), a connection lost mid-call, SQLSTATE classes 08 (connection), 28 (credentials),
53 (resources: too many connections, disk full), 57 (operator intervention: shutdown, cannot connect now) and
3D000 (no such database).
Everything else (a missing table, a bad statement, a foreign-key violation, a deadlock) propagates unchanged: it is a
bug, and surfaces as a ``server_error`` with a log.
"""

from __future__ import annotations

import asyncpg

from pixie.storage.interfaces import AlreadyExists, StorageError, StorageUnavailable

__all__ = [
    "UNAVAILABLE_CLASSES",
    "UNAVAILABLE_STATES",
    "UNIQUE_VIOLATION",
    "describe",
    "is_unavailable",
    "translate",
]

UNIQUE_VIOLATION = "23505"
UNAVAILABLE_CLASSES = frozenset({"08", "28", "53", "57"})
"""SQLSTATE classes: 08 connection, 28 credentials, 53 resources (too many connections, disk full), 57 operator
intervention (shutdown, cannot connect now)."""
UNAVAILABLE_STATES = frozenset({"3D000"})
"""The database does not exist."""


def describe(exc: BaseException) -> str:
    """The driver's message, first line only (asyncpg's messages carry neither SQL nor parameters)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached or used right now (``TimeoutError`` is an
    ``OSError``). A failure that closed the connection is an outage too; :class:`~.database.Database` checks that
    itself, since only it knows the connection."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate: str | None = exc.sqlstate  # None on asyncpg's client-side classes
        return sqlstate is not None and (sqlstate[:2] in UNAVAILABLE_CLASSES or sqlstate in UNAVAILABLE_STATES)
    return False


def translate(exc: BaseException, *, connection_lost: bool = False) -> BaseException:
    """The exception to raise for ``exc``: a :class:`StorageError`, or ``exc`` itself. ``connection_lost`` says the
    connection the call ran on is closed now (whatever the error was)."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, asyncpg.PostgresError) and exc.sqlstate == UNIQUE_VIOLATION:
        return AlreadyExists(f"duplicate key: {describe(exc)}")
    if (connection_lost and isinstance(exc, Exception)) or is_unavailable(exc):
        return StorageUnavailable(f"database unavailable: {describe(exc)}")
    return exc
