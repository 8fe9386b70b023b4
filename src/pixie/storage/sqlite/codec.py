"""Rows ↔ records for the lean SQLite backend, in the exact formats the SQLAlchemy stores write.

The schema (``pixie.storage.sql.tables``, created by the Alembic migration) names every column after a record field,
so one :class:`RecordCodec` per table maps a record to its column values and back, by field order. Formats, as
SQLAlchemy's SQLite dialect stores them: timestamps are REAL, flags INTEGER 0/1, ``tuple[str, ...]`` and
``dict`` columns JSON text written by :func:`json.dumps` with its default separators, key states their string value,
tenant settings a JSON object. A database written by either backend is read by the other.

String tuples repeat endlessly (every token of a client carries the same scopes), so their JSON is memoised both
ways in small bounded dictionaries: tuples are immutable, so a cached value can be shared.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, get_type_hints

from pixie.storage.records import TenantSettings
from pixie.types import KeyState

__all__ = [
    "Conversions",
    "RecordCodec",
    "settings_from_json",
    "settings_to_json",
    "split_row",
    "strings_from_json",
    "strings_to_json",
]

R = TypeVar("R")

_MEMO_LIMIT = 4096
_decoded: dict[str, tuple[str, ...]] = {}
_encoded: dict[tuple[str, ...], str] = {}


def strings_from_json(text: str) -> tuple[str, ...]:
    """A JSON array of strings as a tuple (memoised)."""
    value = _decoded.get(text)
    if value is None:
        value = tuple(json.loads(text))
        if len(_decoded) >= _MEMO_LIMIT:
            _decoded.clear()  # bounded memory; a cold memo only costs a parse
        _decoded[text] = value
    return value


def strings_to_json(value: tuple[str, ...]) -> str:
    """A tuple of strings as a JSON array (memoised)."""
    text = _encoded.get(value)
    if text is None:
        text = json.dumps(list(value))
        if len(_encoded) >= _MEMO_LIMIT:
            _encoded.clear()
        _encoded[value] = text
    return text


_SETTINGS_FIELDS = frozenset(field.name for field in dataclasses.fields(TenantSettings))


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def settings_to_json(settings: TenantSettings) -> str:
    return json.dumps(dataclasses.asdict(settings))


def settings_from_json(text: str) -> TenantSettings:
    """Stored settings: keys written by a newer Pixie are ignored, JSON arrays become tuples again (at every depth:
    ``scope_roles`` holds pairs)."""
    data: Mapping[str, Any] = json.loads(text)
    return TenantSettings(**{name: _tuples(value) for name, value in data.items() if name in _SETTINGS_FIELDS})


def _json_object(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def _state_value(state: KeyState) -> str:
    return state.value


Conversions = Mapping[Any, tuple[Callable[[Any], Any], Callable[[Any], Any]]]
"""Per field type: (encode for a column, decode from a column). Types not listed are stored as they are."""

_CONVERSIONS: Conversions = {
    tuple[str, ...]: (strings_to_json, strings_from_json),
    bool: (int, bool),
    dict[str, Any]: (json.dumps, _json_object),
    KeyState: (_state_value, KeyState),
    TenantSettings: (settings_to_json, settings_from_json),
}


class RecordCodec(Generic[R]):
    """Columns, ``INSERT`` statement and row conversion for the records of one table.

    ``columns`` lists the record's fields in order (``field_map`` renames a field whose column differs), so a
    ``SELECT {columns}`` row decodes positionally.
    """

    def __init__(
        self,
        factory: type[R],
        table: str,
        *,
        field_map: Mapping[str, str] | None = None,
        conversions: Conversions = _CONVERSIONS,
        placeholders: Callable[[int], str] = lambda count: ", ".join("?" * count),
    ) -> None:
        """``conversions`` and ``placeholders`` (the ``VALUES`` list for that many columns) fit the driver: the
        PostgreSQL backend passes its own (:mod:`pixie.storage.pg.codec`)."""
        renames = dict(field_map or {})
        hints = get_type_hints(factory)
        fields = [field.name for field in dataclasses.fields(factory)]  # type: ignore[arg-type]
        self.factory = factory
        self.table = table
        self.column_names = tuple(renames.get(name, name) for name in fields)
        self.columns = ", ".join(self.column_names)
        self.width = len(fields)
        # Table and column names come from code, never from input; values are always bound parameters.
        self.insert = f"INSERT INTO {table} ({self.columns}) VALUES ({placeholders(self.width)})"  # noqa: S608
        self._fields = tuple(fields)
        self._encoders: list[tuple[int, Callable[[Any], Any]]] = []
        self._decoders: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(fields):
            conversion = conversions.get(_strip_optional(hints[name]))
            if conversion is not None:
                self._encoders.append((index, conversion[0]))
                self._decoders.append((index, conversion[1]))

    def select(self, where: str, *, order_by: str | None = None) -> str:
        """``SELECT`` of every column of the table, for rows that :meth:`decode` reads. ``where`` is a constant
        condition with ``?`` placeholders (values are always bound, never formatted in)."""
        sql = f"SELECT {self.columns} FROM {self.table} WHERE {where}"  # noqa: S608 (constants only, see above)
        return sql if order_by is None else f"{sql} ORDER BY {order_by}"

    def prefixed(self, alias: str) -> str:
        """The columns qualified by a table alias (``t.tenant_id, t.token_hash, …``), for joins."""
        return ", ".join(f"{alias}.{name}" for name in self.column_names)

    def encode(self, record: object) -> list[Any]:
        """Column values of ``record`` (an ``R``, or anything with its fields as attributes), in :attr:`columns`
        order (``None`` stays ``None``)."""
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

    def decode_joined(self, row: Sequence[Any]) -> R | None:
        """The record of an outer join's slice of a row (its :meth:`prefixed` columns), or None when the join found
        no row: the first column, part of every table's key, is then NULL."""
        return None if row[0] is None else self.decode(row)


class _Row(Protocol):
    """A row of either driver: ``sqlite3.Row``, a tuple, or asyncpg's ``Record``."""

    def __getitem__(self, index: slice, /) -> Any: ...


def split_row(row: _Row, *codecs: RecordCodec[Any]) -> list[Sequence[Any]]:
    """A joined row cut into the columns of each codec in turn (each selected with :meth:`RecordCodec.prefixed`)."""
    parts: list[Sequence[Any]] = []
    start = 0
    for codec in codecs:
        parts.append(row[start : start + codec.width])
        start += codec.width
    return parts


def _strip_optional(hint: Any) -> Any:
    """``X | None`` → ``X``; anything else unchanged."""
    arguments = getattr(hint, "__args__", ())
    if type(None) in arguments and len(arguments) == 2:
        return next(argument for argument in arguments if argument is not type(None))
    return hint
