"""The Alembic revisions shipped in the package create exactly ``tables.metadata``, idempotently, on both backends."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pixie.storage import records
from pixie.storage.schema import create_engine, migrate, open_storage
from pixie.storage.schema.migrate import alembic_config
from pixie.storage.schema.tables import metadata

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
    "admin_sessions": records.AdminSession,
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


async def test_migrate_twice_is_harmless(empty_database_url: str, empty_engine: AsyncEngine) -> None:
    """``pixie serve`` migrates at every start: a second run changes nothing and keeps the data."""
    async with open_storage(empty_database_url) as storage:
        await storage.clients.create(f.client())
    async with open_storage(empty_database_url) as storage:
        assert await storage.clients.get(TENANT, "spa") == f.client()
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
    assert script.get_heads() == ["0010"]


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


_OLD_EVENTS = [
    {"tenant_id": TENANT, "kind": "token_issued", "outcome": "success", "created_at": 1000.5, "client_id": "spa",
     "error": None, "duration_ms": 12.25, "correlation_id": "c1", "detail": {"grant_type": "refresh_token"}},
    {"tenant_id": "other", "kind": "login_failed", "outcome": "failure", "created_at": 1001.0, "client_id": None,
     "error": "access_denied", "duration_ms": None, "correlation_id": None, "detail": {}},
    {"tenant_id": TENANT, "kind": "code_issued", "outcome": "success", "created_at": 999.0, "client_id": "spa",
     "error": None, "duration_ms": None, "correlation_id": "c1", "detail": {"n": [1, 2]}},
]  # fmt: skip


def _to(revision: str, *, down: bool = False) -> Any:
    def run(connection: Connection) -> None:
        config = alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, revision)

    return run


async def _view(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(sa.text("SELECT * FROM events ORDER BY id"))
        rows = [dict(row) for row in result.mappings()]
    for row in rows:
        if isinstance(row["detail"], str):  # SQLite's view hands JSON back as text
            row["detail"] = json.loads(row["detail"])
    return rows


async def test_events_move_into_batches_and_back(empty_database_url: str) -> None:
    """Revision 0002 moves a 0001 database's events into ``event_batches`` in the order they were written; the
    ``events`` view shows the same rows with the old columns; the store finds them; a downgrade restores the table."""
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_to("0001"))
            await connection.execute(sa.text(_insert_old_event()), _old_events_bound())
        await migrate(engine)
        assert await _differences(engine) == []
        shown = await _view(engine)
        # In the order written, tenant by tenant (each tenant's events share a batch).
        in_batches = [e for tenant in (TENANT, "other") for e in _OLD_EVENTS if e["tenant_id"] == tenant]
        assert [{k: v for k, v in row.items() if k != "id"} for row in shown] == in_batches
        assert [row["id"] for row in shown] == sorted(row["id"] for row in shown)
        async with open_storage(empty_database_url) as storage:
            found = await storage.events.query(TENANT, 0, 2000)
            assert [(e.kind, e.created_at, e.detail) for e in found] == [
                ("code_issued", 999.0, {"n": [1, 2]}),
                ("token_issued", 1000.5, {"grant_type": "refresh_token"}),
            ]
            await storage.events.append([f.event(kind="later", created_at=1002.0)])
        assert [row["kind"] for row in await _view(engine)] == [*(e["kind"] for e in in_batches), "later"]
        async with engine.begin() as connection:
            await connection.run_sync(_to("0001", down=True))
        restored = await _view(engine)  # a table again
        assert [row["kind"] for row in restored] == [*(e["kind"] for e in in_batches), "later"]
        assert restored[0]["detail"] == {"grant_type": "refresh_token"} and restored[0]["duration_ms"] == 12.25
    finally:
        await engine.dispose()


def _insert_old_event() -> str:
    names = list(_OLD_EVENTS[0])
    return f"INSERT INTO events ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"  # noqa: S608


def _old_events_bound() -> list[dict[str, Any]]:
    return [event | {"detail": json.dumps(event["detail"])} for event in _OLD_EVENTS]
