"""The Alembic revisions shipped in the package create exactly ``tables.metadata``, idempotently, on both backends."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pixie.storage import records
from pixie.storage.sql import build_storage, create_engine, migrate
from pixie.storage.sql.migrate import alembic_config
from pixie.storage.sql.tables import metadata

from . import factories as f
from .factories import TENANT

RECORD_OF_TABLE: dict[str, type[Any]] = {
    "clients": records.Client,
    "users": records.User,
    "sso_sessions": records.SsoSession,
    "consents": records.Consent,
    "authorization_requests": records.AuthorizationRequest,
    "authorization_codes": records.AuthorizationCode,
    "refresh_families": records.RefreshFamily,
    "refresh_tokens": records.RefreshToken,
    "signing_keys": records.SigningKey,
    "events": records.Event,
}


async def _differences(engine: AsyncEngine, target: sa.MetaData = metadata) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), target))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


@pytest.fixture
async def empty_engine(empty_database_url: str) -> Any:
    engine = create_engine(empty_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_migration_matches_tables(empty_engine: AsyncEngine) -> None:
    """The hand-written revisions and tables.py describe the same schema (Alembic autogenerate finds nothing)."""
    await migrate(empty_engine)
    assert await _differences(empty_engine) == []


async def test_schema_comparison_sees_differences(empty_engine: AsyncEngine) -> None:
    """Guard the guard: the comparison above does notice a missing index and an extra table."""
    await migrate(empty_engine)
    changed = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    sa.Index("ix_extra", changed.tables["users"].c.created_at)
    sa.Table("extra", changed, sa.Column("id", sa.Integer, primary_key=True))
    kinds = {diff[0] for diff in await _differences(empty_engine, changed)}
    assert kinds == {"add_index", "add_table"}


async def test_migrate_twice_is_harmless(empty_engine: AsyncEngine) -> None:
    """``pixie serve`` migrates at every start: a second run changes nothing and keeps the data."""
    await migrate(empty_engine)
    await build_storage(empty_engine).clients.create(f.client())
    await migrate(empty_engine)
    assert await build_storage(empty_engine).clients.get(TENANT, "spa") == f.client()
    assert await _differences(empty_engine) == []


async def test_concurrent_migrations_from_two_processes(empty_database_url: str) -> None:
    """Two ``pixie serve`` workers starting together: both migrations succeed and the schema is created once."""
    engines = [create_engine(empty_database_url) for _ in range(2)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        assert await _differences(engines[0]) == []
    finally:
        for engine in engines:
            await engine.dispose()


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == ["0001"]


@pytest.mark.parametrize("table", metadata.sorted_tables, ids=lambda t: t.name)
def test_every_table_carries_tenant_id(table: sa.Table) -> None:
    """Multi-tenancy: every row belongs to a tenant."""
    assert "tenant_id" in table.c
    assert not table.c.tenant_id.nullable


@pytest.mark.parametrize("name", sorted(RECORD_OF_TABLE))
def test_columns_match_record_fields(name: str) -> None:
    """Columns are named after record fields (the stores map rows generically), nothing more or less."""
    fields = {field.name for field in dataclasses.fields(RECORD_OF_TABLE[name])}
    columns = set(metadata.tables[name].c.keys()) - {"id"}
    assert columns == fields
