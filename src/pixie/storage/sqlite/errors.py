"""Translate :mod:`sqlite3` failures into the storage errors callers handle.

``AlreadyExists``      ← a primary-key or unique violation (extended codes 1555, 2067).
``StorageUnavailable`` ← the file cannot be used right now: busy past the deadline, locked, out of memory, read-only,
I/O error, disk full, cannot open, not a database.
Everything else (a missing table, a bad statement, a foreign-key violation) propagates unchanged: it is a bug, and
surfaces as a ``server_error`` with a log.
"""

from __future__ import annotations

import sqlite3

from pixie.storage.interfaces import AlreadyExists, StorageUnavailable

__all__ = ["DUPLICATE_KEY_CODES", "UNAVAILABLE_CODES", "is_busy", "translate"]

# sqlite3 result codes (https://www.sqlite.org/rescode.html).
DUPLICATE_KEY_CODES = frozenset({1555, 2067})
"""Extended codes of a primary-key and a unique violation."""
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
UNAVAILABLE_CODES = frozenset(
    {
        _SQLITE_BUSY,
        _SQLITE_LOCKED,
        7,  # SQLITE_NOMEM
        8,  # SQLITE_READONLY
        10,  # SQLITE_IOERR
        13,  # SQLITE_FULL
        14,  # SQLITE_CANTOPEN
        15,  # SQLITE_PROTOCOL
        26,  # SQLITE_NOTADB
    }
)
"""Primary codes meaning the file cannot be used right now (as opposed to SQLITE_ERROR, a bad statement)."""


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_busy(exc: sqlite3.Error) -> bool:
    """True when another connection holds the lock we need (``SQLITE_BUSY``/``SQLITE_LOCKED``, any extended code):
    the statement did nothing and may be retried."""
    return _primary_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED)


def translate(exc: sqlite3.Error) -> Exception:
    """The exception to raise for ``exc``: a :class:`StorageError` or ``exc`` itself. Messages are the driver's
    first line only (no SQL, no parameters)."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else type(exc).__name__
    if isinstance(exc, sqlite3.IntegrityError) and getattr(exc, "sqlite_errorcode", None) in DUPLICATE_KEY_CODES:
        return AlreadyExists(f"duplicate key: {message}")
    if _primary_code(exc) in UNAVAILABLE_CODES:
        return StorageUnavailable(f"database unavailable: {message}")
    return exc
