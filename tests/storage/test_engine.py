"""Database URLs, engine set-up and error translation: ``StorageUnavailable`` for an unreachable or lost
database, ``AlreadyExists`` for duplicates, and everything else left alone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import pixie.storage.schema
from pixie.storage.interfaces import AlreadyExists, Storage, StorageUnavailable
from pixie.storage.pg import open_pg_storage
from pixie.storage.schema import check_connection, create_engine, normalize_url
from pixie.storage.schema.engine import SQLITE_BUSY_TIMEOUT_MS
from pixie.storage.schema.errors import is_unavailable, translate_errors
from pixie.storage.sqlite import open_sqlite_storage

from .factories import TENANT

CLOSED_PORT_URL = "postgresql://postgres:s3cret@127.0.0.1:1/test"


@asynccontextmanager
async def _driver(url: str) -> AsyncIterator[Storage]:
    """The stores of the driver that serves ``url``, opened without checking or migrating anything first."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        with open_sqlite_storage(parsed.database) as storage:
            yield storage
    else:
        async with open_pg_storage(
            parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        ) as storage:
            yield storage


def test_public_api() -> None:
    """STYLE.md item 9: the package's __all__ is the documented public surface, sorted."""
    assert pixie.storage.schema.__all__ == [
        "check_connection",
        "create_engine",
        "migrate",
        "normalize_url",
        "open_storage",
        "sqlite_file",
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///pixie.db", "sqlite+aiosqlite:///pixie.db"),
        ("sqlite:////var/lib/pixie/pixie.db", "sqlite+aiosqlite:////var/lib/pixie/pixie.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///pixie.db", "sqlite+aiosqlite:///pixie.db"),
        ("postgresql://u:p@db:5432/pixie", "postgresql+asyncpg://u:p@db:5432/pixie"),
        ("postgres://u@db/pixie?sslmode=require", "postgresql+asyncpg://u@db/pixie?sslmode=require"),
        ("postgresql+asyncpg://u@db/pixie", "postgresql+asyncpg://u@db/pixie"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    """ARCHITECTURE §4: PIXIE_DATABASE_URL takes plain sqlite:/// and postgresql:// URLs."""
    assert normalize_url(given) == expected


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter2@db/pixie", "postgresql+psycopg2://u:hunter2@db/x", "pixie.db", "", "sqlite:x"]
)
def test_unsupported_url_is_a_one_line_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL") as caught:
        normalize_url(url)
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message


async def test_sqlite_connections_get_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as first, engine.connect() as second:
            for connection in (first, second):
                pragmas = [
                    (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout")
                ]
                assert pragmas == ["wal", 1, SQLITE_BUSY_TIMEOUT_MS]
    finally:
        await engine.dispose()


async def test_sqlite_connects_while_another_process_writes_a_fresh_file(tmp_path: Path) -> None:
    """Two ``pixie serve`` processes on a new file: switching to WAL needs an exclusive lock that SQLite refuses
    at once while the other writes; connecting must still work, and a later connection converts the file."""
    path = tmp_path / "fresh.db"
    other = sqlite3.connect(path, isolation_level=None)
    engine = create_engine(f"sqlite:///{path}")
    try:
        other.execute("CREATE TABLE t (x INTEGER)")
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (1)")
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT count(*) FROM t")).scalar() == 0
        other.execute("COMMIT")
        await engine.dispose()  # the next checkout opens a new connection
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        await engine.dispose()
        other.close()


async def test_check_connection_passes_on_a_live_database(storage_engine: AsyncEngine) -> None:
    await check_connection(storage_engine)


@pytest.mark.parametrize("url", [CLOSED_PORT_URL, "sqlite:////nonexistent-directory/pixie.db"])
async def test_unreachable_database(url: str) -> None:
    """ARCHITECTURE §4: a one-line message (never the password); a store call raises StorageUnavailable too."""
    engine = create_engine(url)
    try:
        with pytest.raises(StorageUnavailable) as caught:
            await check_connection(engine)
        message = str(caught.value)
        assert "\n" not in message and "s3cret" not in message
    finally:
        await engine.dispose()
    async with _driver(url) as storage:
        with pytest.raises(StorageUnavailable):
            await storage.clients.get(TENANT, "spa")


async def test_unmigrated_database_errors_are_not_disguised(empty_database_url: str) -> None:
    """A missing table is a bug, not an outage: the driver's error propagates as is (neither StorageUnavailable nor
    AlreadyExists) — asyncpg's from the PostgreSQL driver, sqlite3's from the SQLite driver."""
    async with _driver(empty_database_url) as storage:
        with pytest.raises((asyncpg.PostgresError, sqlite3.OperationalError)) as caught:
            await storage.clients.get(TENANT, "spa")
    assert not isinstance(caught.value, StorageUnavailable | AlreadyExists)
    assert "no such table" in str(caught.value) or "does not exist" in str(caught.value)


async def test_lost_postgres_connection_is_unavailable(postgres_url: str) -> None:
    """A connection killed mid-session (server restart, failover) becomes StorageUnavailable."""
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            pid = (await connection.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
            admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            await asyncio.sleep(0.05)
            with pytest.raises(StorageUnavailable), translate_errors():
                await connection.execute(sa.text("SELECT 1"))
        # The pool replaced the dead connection: the next call works (pre-ping).
        await check_connection(engine)
    finally:
        await engine.dispose()


def _dbapi_error(cls: type[sa.exc.DBAPIError], **orig_attributes: object) -> sa.exc.DBAPIError:
    orig = Exception("driver message")
    for name, value in orig_attributes.items():
        setattr(orig, name, value)
    return cls("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (_dbapi_error(sa.exc.DBAPIError, sqlstate="57P01"), True),  # admin shutdown
        (_dbapi_error(sa.exc.DBAPIError, sqlstate="53300"), True),  # too many connections
        (_dbapi_error(sa.exc.DBAPIError, sqlstate="08006"), True),  # connection failure
        (_dbapi_error(sa.exc.InterfaceError), True),
        (_dbapi_error(sa.exc.OperationalError, sqlite_errorcode=5), True),  # SQLITE_BUSY after busy_timeout
        (_dbapi_error(sa.exc.OperationalError, sqlite_errorcode=14), True),  # SQLITE_CANTOPEN
        (_dbapi_error(sa.exc.OperationalError, sqlite_errorcode=1), False),  # no such table / syntax error
        (_dbapi_error(sa.exc.ProgrammingError, sqlstate="42P01"), False),  # undefined table
        (_dbapi_error(sa.exc.IntegrityError, sqlstate="23505"), False),
        (sqlite3.OperationalError("not wrapped by SQLAlchemy"), False),
        (ValueError("a bug"), False),
    ],
)
def test_unavailable_classification(error: BaseException, unavailable: bool) -> None:
    assert is_unavailable(error) is unavailable


def test_translate_errors_leaves_other_errors_alone() -> None:
    bug = KeyError("x")
    with pytest.raises(KeyError) as caught, translate_errors():
        raise bug
    assert caught.value is bug
    with pytest.raises(AlreadyExists), translate_errors():
        raise _dbapi_error(sa.exc.IntegrityError, sqlite_errorcode=2067)
    with pytest.raises(sa.exc.IntegrityError), translate_errors():  # a foreign-key violation is not a duplicate
        raise _dbapi_error(sa.exc.IntegrityError, sqlite_errorcode=787)
