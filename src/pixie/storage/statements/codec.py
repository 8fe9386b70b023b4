"""Rows ↔ records, for both databases: one :class:`RecordCodec` per table.

The schema (:mod:`pixie.storage.schema.tables`) names every column after a record field, so a codec maps a record to
its column values and a row back to a record by field order. Formats: timestamps are floats, flags booleans (SQLite
stores 0/1 and they are read back through ``bool``), ``tuple[str, ...]`` and ``dict`` columns JSON text (SQLite
``TEXT``, PostgreSQL ``json``, which asyncpg passes as text), key states their string value, tenant settings a JSON
object, bytes ``BLOB``/``bytea``. Both drivers pass every other type as it is.

String tuples repeat endlessly (every token of a client carries the same scopes), so their JSON is memoised both
ways in small bounded dictionaries: tuples are immutable, so a cached value can be shared.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, get_type_hints

from pixie.storage.records import TenantSettings
from pixie.storage.statements.dialect import Statement, Values
from pixie.types import KeyState

__all__ = [
    "RecordCodec",
    "Row",
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


def _same(value: Any) -> Any:
    return value


# Per field type: (encode for a column, decode from a column). Types not listed are stored as they are.
_CONVERSIONS: Mapping[Any, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    tuple[str, ...]: (strings_to_json, strings_from_json),
    bool: (_same, bool),
    dict[str, Any]: (json.dumps, _json_object),
    KeyState: (_state_value, KeyState),
    TenantSettings: (settings_to_json, settings_from_json),
}


class Row(Protocol):
    """A row of either driver: a tuple from :mod:`sqlite3`, a ``Record`` from asyncpg."""

    def __getitem__(self, index: Any, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class RecordCodec(Generic[R]):
    """Columns, ``INSERT`` and ``SELECT`` statements and conversions for the records of one table.

    ``columns`` lists the record's fields in order (``field_map`` renames a field whose column differs), so a
    ``SELECT {columns}`` row decodes positionally, and :meth:`values` gives the parameters of :attr:`insert`.
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
        self.insert = Statement(self.insert_sql())
        self._fields = tuple(fields)
        self._keys: dict[str, tuple[str, ...]] = {"": self.column_names}
        self._encoders: list[tuple[int, Callable[[Any], Any]]] = []
        self._decoders: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(fields):
            conversion = _CONVERSIONS.get(_strip_optional(hints[name]))
            if conversion is not None:
                if conversion[0] is not _same:
                    self._encoders.append((index, conversion[0]))
                self._decoders.append((index, conversion[1]))

    def parameters(self, prefix: str = "") -> str:
        """The named parameters of every column, in order (``:tenant_id, :code_hash, …``), as :meth:`encode` with
        the same ``prefix`` names them."""
        return ", ".join(f":{prefix}{name}" for name in self.column_names)

    def insert_sql(self, prefix: str = "") -> str:
        # Table and column names come from code, never from input; values are always bound parameters.
        return f"INSERT INTO {self.table} ({self.columns}) VALUES ({self.parameters(prefix)})"  # noqa: S608

    def select(self, where: str, *, order_by: str | None = None) -> Statement:
        """``SELECT`` of every column, for rows that :meth:`decode` reads. ``where`` is a constant condition with
        named parameters (values are always bound, never formatted in)."""
        sql = f"SELECT {self.columns} FROM {self.table} WHERE {where}"  # noqa: S608 (constants only, see above)
        return Statement(sql if order_by is None else f"{sql} ORDER BY {order_by}")

    def prefixed(self, alias: str) -> str:
        """The columns qualified by a table alias (``t.tenant_id, t.token_hash, …``), for joins."""
        return ", ".join(f"{alias}.{name}" for name in self.column_names)

    def values(self, record: object) -> Values:
        """The column values of ``record`` (an ``R``, or anything with its fields as attributes) in column order: the
        parameters of :attr:`insert`. ``None`` stays ``None``."""
        values = [getattr(record, name) for name in self._fields]
        for index, encode in self._encoders:
            value = values[index]
            if value is not None:
                values[index] = encode(value)
        return Values(values)

    def encode(self, record: object, prefix: str = "") -> dict[str, Any]:
        """The column values of ``record`` by parameter name (the column's name after ``prefix``), for statements
        that bind them among others."""
        keys = self._keys.get(prefix)
        if keys is None:
            keys = self._keys[prefix] = tuple(prefix + name for name in self.column_names)
        return dict(zip(keys, self.values(record), strict=True))

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


def split_row(row: Row, *codecs: RecordCodec[Any], start: int = 0) -> list[Sequence[Any]]:
    """A joined row cut, from column ``start`` on, into the columns of each codec in turn (each selected with
    :meth:`RecordCodec.prefixed`)."""
    parts: list[Sequence[Any]] = []
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
