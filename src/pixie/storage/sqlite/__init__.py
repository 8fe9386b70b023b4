"""The SQLite driver: every storage port on the standard library's :mod:`sqlite3`, for one file.

The stores are those of :mod:`pixie.storage.statements`; this package adds the connection layer
(:mod:`~pixie.storage.sqlite.database`: statements on the event loop, group commit, background checkpoints) and the
stores whose atomic step SQLite takes its own way (:mod:`~pixie.storage.sqlite.stores`).

``open_sqlite_storage(path)`` yields every store on a migrated file and closes it on exit;
``build_sqlite_storage(Database(path))`` does the same for a caller that manages the :class:`Database` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pixie.storage.interfaces import Storage
from pixie.storage.sqlite.database import Database
from pixie.storage.sqlite.stores import SqliteCodeStore, SqliteConsentStore, SqliteRefreshTokenStore
from pixie.storage.statements import sql_storage

__all__ = ["Database", "build_sqlite_storage", "open_sqlite_storage"]


def build_sqlite_storage(db: Database) -> Storage:
    """Every store on ``db`` (a migrated file)."""
    return sql_storage(
        db, refresh=SqliteRefreshTokenStore(db), consents=SqliteConsentStore(db), codes=SqliteCodeStore(db)
    )


@contextmanager
def open_sqlite_storage(path: str) -> Iterator[Storage]:
    """Every store on the migrated SQLite file at ``path``; its connections are closed on exit."""
    db = Database(path)
    try:
        yield build_sqlite_storage(db)
    finally:
        db.close()
