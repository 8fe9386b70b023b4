"""What every SQL store shares: transactions with error translation, row ↔ record mapping, dialect helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pixie.storage.sql.engine import BEGIN_IMMEDIATE
from pixie.storage.sql.errors import translate_errors

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["SqlStore", "insert_ignoring_duplicates", "record_from_row", "row_from_record"]

R = TypeVar("R")


def row_from_record(record: DataclassInstance) -> dict[str, Any]:
    """Column values for ``record``: columns are named after the record's fields (shallow, unlike ``asdict``)."""
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


def record_from_row(factory: Callable[..., R], row: RowMapping, *, drop: Sequence[str] = ()) -> R:
    """Build a record from a row mapping, leaving out the columns in ``drop`` (surrogate keys)."""
    return factory(**{name: value for name, value in row.items() if name not in drop})


def insert_ignoring_duplicates(dialect_name: str, table: sa.Table) -> sa.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the engine's dialect (idempotent inserts)."""
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect_name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"no idempotent insert for dialect {dialect_name!r}")


class SqlStore:
    """Base of the stores: holds the engine and opens translated transactions.

    They serve PostgreSQL; SQLite files are served by :mod:`pixie.storage.sqlite` (this package still creates and
    migrates their schema). They keep working on a SQLite engine for sequential use, which
    ``bench/storage_ops.py`` relies on to compare the two backends in one run.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (rolled back at the end)."""
        with translate_errors():
            async with self._engine.connect() as connection:
                yield connection

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction committed on success; on SQLite it holds the write lock from its first statement."""
        with translate_errors():
            async with self._engine.connect() as connection:
                await connection.execution_options(**{BEGIN_IMMEDIATE: True})
                async with connection.begin():
                    yield connection
