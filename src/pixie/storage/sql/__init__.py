"""The SQL implementation of the storage ports: SQLite (embedded default) and PostgreSQL (scale-out).

``create_engine(url)`` → ``await migrate(engine)`` → ``build_storage(engine)``; ``check_connection`` tells a
reachable database from one that is not. Everything hangs off the engine passed in: no module-level state.
"""

from __future__ import annotations

import asyncio

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
    """Every store, on ``engine`` (which must be migrated: see :func:`migrate`). On SQLite the stores share one
    in-process write gate (see :class:`~pixie.storage.sql.base.SqlStore`)."""
    gate = asyncio.Lock() if engine.dialect.name == "sqlite" else None
    return Storage(
        tenants=SqlTenantStore(engine, gate),
        clients=SqlClientStore(engine, gate),
        users=SqlUserStore(engine, gate),
        sessions=SqlSessionStore(engine, gate),
        consents=SqlConsentStore(engine, gate),
        requests=SqlAuthorizationRequestStore(engine, gate),
        codes=SqlCodeStore(engine, gate),
        refresh=SqlRefreshTokenStore(engine, gate),
        denylist=SqlAccessTokenDenyList(engine, gate),
        keys=SqlKeyStore(engine, gate),
        events=SqlEventStore(engine, gate),
    )
