"""The schema and its dispatch: SQLAlchemy tables, the Alembic migrations shipped in the package, and
:func:`open_storage`, which checks and migrates the database at a URL and opens the driver that serves it.

SQLAlchemy is used here only, for schema and migrations; SQLite files are served by :mod:`pixie.storage.sqlite` and
PostgreSQL by :mod:`pixie.storage.pg`, each on its own connections. Lower level: ``create_engine(url)`` →
``await migrate(engine)``; ``check_connection`` tells a reachable database from one that is not.

The names are loaded on first use (PEP 562): reading a URL or opening a current database imports no SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixie.lazy import lazy_exports

if TYPE_CHECKING:
    from pixie.storage.schema.engine import check_connection, create_engine
    from pixie.storage.schema.migrate import migrate
    from pixie.storage.schema.opening import open_storage
    from pixie.storage.schema.urls import normalize_url, sqlite_file

__all__ = ["check_connection", "create_engine", "migrate", "normalize_url", "open_storage", "sqlite_file"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "check_connection": "pixie.storage.schema.engine",
        "create_engine": "pixie.storage.schema.engine",
        "migrate": "pixie.storage.schema.migrate",
        "normalize_url": "pixie.storage.schema.urls",
        "open_storage": "pixie.storage.schema.opening",
        "sqlite_file": "pixie.storage.schema.urls",
    },
    globals(),
    __all__,
)
