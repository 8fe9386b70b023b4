"""Throw-away PostgreSQL databases on the test server (a module of its own: a test cannot import ``conftest`` by
name, since every test folder may have one)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from services import postgres_server_url

__all__ = ["temporary_postgres_database"]


def _postgres_server() -> URL:
    """The run's PostgreSQL server (configured, the machine's or embedded: :mod:`services` decides)."""
    return make_url(postgres_server_url()).set(drivername="postgresql+asyncpg")


def _libpq_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def _postgres_admin() -> AsyncIterator[asyncpg.Connection]:
    """An autocommit connection to the maintenance database, or a test failure that says why not."""
    server = _postgres_server()
    try:
        connection = await asyncpg.connect(_libpq_dsn(server), timeout=10)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
    else:
        failure = None
    if failure is not None:  # outside the except block: the report shows this line, not a chained traceback
        pytest.fail(
            f"PostgreSQL at {server.render_as_string(hide_password=True)} cannot be reached ({failure}). "
            "Start it (.ci/run does), or fix or unset PIXIE_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    try:
        yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def temporary_postgres_database() -> AsyncIterator[str]:
    """Create an empty database on the test server; yield its async URL; drop it (even if still in use)."""
    name = f"pixie_test_{secrets.token_hex(6)}"
    async with _postgres_admin() as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_server().set(database=name).render_as_string(hide_password=False)
    finally:
        async with _postgres_admin() as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
