"""The lean embedded backend: every storage port directly on the standard library's :mod:`sqlite3`.

Same schema (created by the Alembic migration of :mod:`pixie.storage.sql`, which also still runs at start-up) and
same semantics as the SQLAlchemy stores, at a fraction of the cost per call: see
:mod:`pixie.storage.sqlite.database` for the concurrency model and the measurements behind it.

``open_sqlite_storage(path)`` yields every store on a migrated file and closes it on exit;
``build_sqlite_storage(Database(path))`` does the same for a caller that manages the :class:`Database` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pixie.storage.interfaces import Storage
from pixie.storage.sqlite.authorization import SqliteAuthorizationRequestStore, SqliteCodeStore
from pixie.storage.sqlite.database import Database
from pixie.storage.sqlite.directory import SqliteClientStore, SqliteTenantStore, SqliteUserStore
from pixie.storage.sqlite.events import SqliteEventStore
from pixie.storage.sqlite.keys import SqliteKeyStore
from pixie.storage.sqlite.refresh import SqliteAccessTokenDenyList, SqliteRefreshTokenStore
from pixie.storage.sqlite.sessions import SqliteConsentStore, SqliteSessionStore

__all__ = ["Database", "build_sqlite_storage", "open_sqlite_storage"]


def build_sqlite_storage(db: Database) -> Storage:
    """Every store on ``db`` (a migrated file)."""
    return Storage(
        tenants=SqliteTenantStore(db),
        clients=SqliteClientStore(db),
        users=SqliteUserStore(db),
        sessions=SqliteSessionStore(db),
        consents=SqliteConsentStore(db),
        requests=SqliteAuthorizationRequestStore(db),
        codes=SqliteCodeStore(db),
        refresh=SqliteRefreshTokenStore(db),
        denylist=SqliteAccessTokenDenyList(db),
        keys=SqliteKeyStore(db),
        events=SqliteEventStore(db),
    )


@contextmanager
def open_sqlite_storage(path: str) -> Iterator[Storage]:
    """Every store on the migrated SQLite file at ``path``; its connections are closed on exit."""
    db = Database(path)
    try:
        yield build_sqlite_storage(db)
    finally:
        db.close()
