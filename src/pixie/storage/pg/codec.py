"""Rows ↔ records for the PostgreSQL backend, in the exact formats the SQLAlchemy stores write on PostgreSQL.

As in :mod:`pixie.storage.sqlite.codec`, every column is named after a record field, so one :class:`RecordCodec`
per table maps a record to its column values and back by field order. asyncpg passes booleans, floats (double
precision), integers and bytes (``bytea``) as they are, and ``json`` columns as text; so only the JSON columns
convert: ``tuple[str, ...]`` and ``dict`` columns are :func:`json.dumps` text (the memoised string-tuple helpers and
the tenant-settings format are shared with the SQLite backend), key states their string value. A database written
by the SQL stores is read by this backend and the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pixie.storage.records import TenantSettings
from pixie.storage.sqlite.codec import (
    Conversions,
    settings_from_json,
    settings_to_json,
    split_row,
    strings_from_json,
    strings_to_json,
)
from pixie.storage.sqlite.codec import RecordCodec as BaseCodec
from pixie.types import KeyState

__all__ = ["RecordCodec", "settings_from_json", "settings_to_json", "split_row", "strings_from_json", "strings_to_json"]

R = TypeVar("R")


def _json_object(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def _state_value(state: KeyState) -> str:
    return state.value


# Per field type: (encode for a column, decode from a column). Types not listed are passed as they are.
_CONVERSIONS: Conversions = {
    tuple[str, ...]: (strings_to_json, strings_from_json),
    dict[str, Any]: (json.dumps, _json_object),
    KeyState: (_state_value, KeyState),
    TenantSettings: (settings_to_json, settings_from_json),
}


class RecordCodec(BaseCodec[R]):
    """:class:`pixie.storage.sqlite.codec.RecordCodec` with PostgreSQL's conversions and asyncpg's ``$1 … $n``
    placeholders (in ``where`` conditions too)."""

    def __init__(self, factory: type[R], table: str, *, field_map: Mapping[str, str] | None = None) -> None:
        super().__init__(
            factory, table, field_map=field_map, conversions=_CONVERSIONS, placeholders=lambda n: placeholders(1, n)
        )

    def lateral(self, alias: str, key: str) -> str:
        """``LATERAL (SELECT {columns} FROM {table} WHERE {key} OFFSET 0) AS {alias}``: a row of this table found by
        its key from the row before it in a join, then read as ``{alias}.column`` (see :meth:`prefixed`).

        A plain join let PostgreSQL plan the inner table on a new database (never analyzed) as a scan of every row
        of the tenant (``tenant_id = $1`` is a prefix of every key), and kept that plan until the table was
        next analyzed. ``OFFSET 0`` keeps the subquery from being merged into the join, so the lookup is
        planned on its own: a primary-key probe per outer row (``tests/storage/test_pg_plans.py``)."""
        return f"LATERAL (SELECT {self.columns} FROM {self.table} WHERE {key} OFFSET 0) AS {alias}"  # noqa: S608


def placeholders(first: int, count: int) -> str:
    """``$first, …, $(first + count - 1)``."""
    return ", ".join(f"${number}" for number in range(first, first + count))
