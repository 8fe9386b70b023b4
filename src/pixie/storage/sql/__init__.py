"""The SQL implementation of the storage ports: SQLite (embedded default) and PostgreSQL (scale-out).

``create_engine(url)`` → ``await migrate(engine)`` → ``build_storage(engine)``; ``check_connection`` tells a
reachable database from one that is not. Everything hangs off the engine passed in: no module-level state.
"""

from __future__ import annotations

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

__all__ = ["build_storage", "check_connection", "create_engine", "migrate", "normalize_url"]


def build_storage(engine: AsyncEngine) -> Storage:
    """Every store, on ``engine`` (which must be migrated: see :func:`migrate`)."""
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
