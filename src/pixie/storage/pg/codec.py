"""Rows ↔ records for the PostgreSQL backend, in the exact formats the SQLAlchemy stores write on PostgreSQL.

As in :mod:`pixie.storage.sqlite.codec`, every column is named after a record field, so one :class:`RecordCodec`
per table maps a record to its column values and back by field order. asyncpg passes booleans, floats (double
precision), integers and bytes (``bytea``) as they are, and ``json`` columns as text; so only the JSON columns
convert: ``tuple[str, ...]`` and ``dict`` columns are :func:`json.dumps` text (the memoised string-tuple helpers and
the tenant-settings format are shared with the SQLite backend), key states their string value. A database written
by the SQL stores is read by this backend and the other way round.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, get_type_hints

from pixie.storage.records import TenantSettings
from pixie.storage.sqlite.codec import settings_from_json, settings_to_json, strings_from_json, strings_to_json
from pixie.types import KeyState

__all__ = ["RecordCodec", "settings_from_json", "settings_to_json", "strings_from_json", "strings_to_json"]

R = TypeVar("R")


def _json_object(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def _state_value(state: KeyState) -> str:
    return state.value


# Per field type: (encode for a column, decode from a column). Types not listed are passed as they are.
_CONVERSIONS: dict[Any, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    tuple[str, ...]: (strings_to_json, strings_from_json),
    dict[str, Any]: (json.dumps, _json_object),
    KeyState: (_state_value, KeyState),
    TenantSettings: (settings_to_json, settings_from_json),
}


class RecordCodec(Generic[R]):
    """Columns, ``INSERT`` statement and row conversion for the records of one table.

    ``columns`` lists the record's fields in order (``field_map`` renames a field whose column differs), so a
    ``SELECT {columns}`` row decodes positionally; placeholders are asyncpg's ``$1 … $n``.
    """

    def __init__(self, factory: type[R], table: str, *, field_map: Mapping[str, str] | None = None) -> None:
        renames = dict(field_map or {})
        hints = get_type_hints(factory)
        fields = [field.name for field in dataclasses.fields(factory)]  # type: ignore[arg-type]
        self.factory = factory
        self.table = table
        self.column_names = tuple(renames.get(name, name) for name in fields)
        self.columns = ", ".join(self.column_names)
        self.width = len(fields)
        # Table and column names come from code, never from input; values are always bound parameters.
        self.insert = f"INSERT INTO {table} ({self.columns}) VALUES ({placeholders(1, self.width)})"  # noqa: S608
        self._fields = tuple(fields)
        self._encoders: list[tuple[int, Callable[[Any], Any]]] = []
        self._decoders: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(fields):
            conversion = _CONVERSIONS.get(_strip_optional(hints[name]))
            if conversion is not None:
                self._encoders.append((index, conversion[0]))
                self._decoders.append((index, conversion[1]))

    def select(self, where: str, *, order_by: str | None = None) -> str:
        """``SELECT`` of every column of the table, for rows that :meth:`decode` reads. ``where`` is a constant
        condition with ``$n`` placeholders (values are always bound, never formatted in)."""
        sql = f"SELECT {self.columns} FROM {self.table} WHERE {where}"  # noqa: S608 (constants only, see above)
        return sql if order_by is None else f"{sql} ORDER BY {order_by}"

    def prefixed(self, alias: str) -> str:
        """The columns qualified by a table alias (``t.tenant_id, t.token_hash, …``), for joins."""
        return ", ".join(f"{alias}.{name}" for name in self.column_names)

    def encode(self, record: R) -> list[Any]:
        """Column values of ``record``, in :attr:`columns` order (``None`` stays ``None``)."""
        values = [getattr(record, name) for name in self._fields]
        for index, encode in self._encoders:
            value = values[index]
            if value is not None:
                values[index] = encode(value)
        return values

    def decode(self, row: Iterable[Any]) -> R:
        """The record of a row (or a slice of one) selected with :attr:`columns`."""
        values = list(row)
        for index, decode in self._decoders:
            value = values[index]
            if value is not None:
                values[index] = decode(value)
        return self.factory(*values)

    def decode_optional(self, row: Iterable[Any] | None) -> R | None:
        return None if row is None else self.decode(row)


def placeholders(first: int, count: int) -> str:
    """``$first, …, $(first + count - 1)``."""
    return ", ".join(f"${number}" for number in range(first, first + count))


def _strip_optional(hint: Any) -> Any:
    """``X | None`` → ``X``; anything else unchanged."""
    arguments = getattr(hint, "__args__", ())
    if type(None) in arguments and len(arguments) == 2:
        return next(argument for argument in arguments if argument is not type(None))
    return hint
