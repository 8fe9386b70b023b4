"""The PostgreSQL backend: every storage port directly on :mod:`asyncpg`, for scale-out deployments.

Same schema (created by the Alembic migration of :mod:`pixie.storage.sql`, which still runs at start-up) and same
semantics as the SQLAlchemy stores, at a fraction of the cost per call: most calls are one prepared statement and
one round trip on a lean connection pool. See :mod:`pixie.storage.pg.database` for the pool, the failure model and
the measurements behind them.

``open_pg_storage(dsn)`` yields every store on a migrated database and closes its connections on exit;
``build_pg_storage(Database(dsn))`` does the same for a caller that manages the :class:`Database` itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pixie.storage.interfaces import Storage
from pixie.storage.pg.authorization import PgAuthorizationRequestStore, PgCodeStore
from pixie.storage.pg.database import Database
from pixie.storage.pg.directory import PgClientStore, PgTenantStore, PgUserStore
from pixie.storage.pg.events import PgEventStore
from pixie.storage.pg.keys import PgKeyStore
from pixie.storage.pg.refresh import PgAccessTokenDenyList, PgRefreshTokenStore
from pixie.storage.pg.sessions import PgConsentStore, PgSessionStore

__all__ = ["Database", "build_pg_storage", "open_pg_storage"]


def build_pg_storage(db: Database) -> Storage:
    """Every store on ``db`` (a migrated database)."""
    return Storage(
        tenants=PgTenantStore(db),
        clients=PgClientStore(db),
        users=PgUserStore(db),
        sessions=PgSessionStore(db),
        consents=PgConsentStore(db),
        requests=PgAuthorizationRequestStore(db),
        codes=PgCodeStore(db),
        refresh=PgRefreshTokenStore(db),
        denylist=PgAccessTokenDenyList(db),
        keys=PgKeyStore(db),
        events=PgEventStore(db),
    )


@asynccontextmanager
async def open_pg_storage(dsn: str) -> AsyncIterator[Storage]:
    """Every store on the migrated PostgreSQL database at ``dsn`` (a libpq URL); its connections close on exit."""
    db = Database(dsn)
    try:
        yield build_pg_storage(db)
    finally:
        await db.close()
