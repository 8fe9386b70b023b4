"""Translate driver failures into the storage errors callers handle.

``AlreadyExists``  ← a unique or primary-key violation (SQLite extended code, PostgreSQL SQLSTATE 23505).
``StorageUnavailable`` ← the database cannot be reached or used right now: socket errors, a connection lost
mid-transaction, PostgreSQL's connection/resource/shutdown SQLSTATE classes, SQLite's busy/locked/I/O codes.
Everything else (SQL bugs, a missing table) propagates unchanged so it surfaces as a ``server_error`` with a log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from pixie.storage.interfaces import AlreadyExists, StorageError, StorageUnavailable
from pixie.storage.pg.errors import UNAVAILABLE_CLASSES, UNAVAILABLE_STATES, UNIQUE_VIOLATION
from pixie.storage.sqlite.errors import DUPLICATE_KEY_CODES, UNAVAILABLE_CODES

__all__ = ["describe", "is_unavailable", "is_unique_violation", "translate_errors"]


# The drivers' own classification, applied to the driver errors SQLAlchemy wraps while it checks and migrates.
def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    value = getattr(exc.orig, "sqlstate", None)
    return value if isinstance(value, str) else None


def _sqlite_code(exc: sa_exc.DBAPIError) -> int | None:
    value = getattr(exc.orig, "sqlite_errorcode", None)
    return value if isinstance(value, int) else None


def is_unique_violation(exc: BaseException) -> bool:
    """True for a duplicate primary or unique key on either backend."""
    if not isinstance(exc, sa_exc.IntegrityError):
        return False
    return _sqlstate(exc) == UNIQUE_VIOLATION or _sqlite_code(exc) in DUPLICATE_KEY_CODES


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached or used right now."""
    if isinstance(exc, OSError):  # refused, reset, DNS failure, timeout: asyncpg raises these unwrapped on connect
        return True
    if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection busy for pool_timeout: overloaded
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    sqlstate = _sqlstate(exc)
    if sqlstate is not None:
        return sqlstate[:2] in UNAVAILABLE_CLASSES or sqlstate in UNAVAILABLE_STATES
    code = _sqlite_code(exc)
    if code is not None:
        return code & 0xFF in UNAVAILABLE_CODES
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(exc, sa_exc.OperationalError) or isinstance(cause, OSError)


def describe(exc: BaseException) -> str:
    """The driver's own message, first line only: SQLAlchemy's full text carries SQL and bound parameters."""
    source = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    lines = str(source).strip().splitlines()
    return lines[0] if lines else type(source).__name__


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise duplicate keys as :class:`AlreadyExists` and lost databases as :class:`StorageUnavailable`."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        if is_unique_violation(exc):
            raise AlreadyExists(f"duplicate key: {describe(exc)}") from exc
        if is_unavailable(exc):
            raise StorageUnavailable(f"database unavailable: {describe(exc)}") from exc
        raise
