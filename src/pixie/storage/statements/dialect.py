"""SQL written once: a statement with named parameters (``:name``), rendered for SQLite and for PostgreSQL.

A :class:`Statement` holds its two renderings: ``?`` placeholders for SQLite (a name used twice is bound twice) and
``$1 … $n`` for PostgreSQL (one number per distinct name, in order of first use). Callers bind a mapping of names to
values; :meth:`Statement.sqlite_args` and :meth:`Statement.postgresql_args` turn it into the positional tuple each
driver sends, so a store never orders parameters by hand.

Where the two databases need different SQL for the same statement, the statement is written as a function of the
:class:`Dialect`, which renders just that difference (:meth:`Dialect.join_by_key`). ``::`` casts, quoted strings
and quoted identifiers are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

__all__ = ["POSTGRESQL", "SQLITE", "Dialect", "Params", "Statement", "Values"]


class Values(tuple[Any, ...]):
    """The values of a statement's parameters in the order of :attr:`Statement.names`, for a caller that has them in
    that order already (:meth:`~pixie.storage.statements.codec.RecordCodec.values` for the codec's ``INSERT``):
    no mapping is built and taken apart again on the hot path."""

    __slots__ = ()


Params = Mapping[str, Any] | Values
"""Values of a statement's named parameters: by name, or as :class:`Values` in the order of its names."""

# A quoted string or identifier (kept), a ``::`` cast (kept), or a named parameter (replaced).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|:([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases' SQL, beyond placeholders."""

    name: Literal["sqlite", "postgresql"]

    def join_by_key(self, table: str, columns: str, alias: str, on: str, *, outer: bool = True) -> str:
        """Join the row of ``table`` found by ``on`` (a key lookup written with ``alias`` for ``table`` and the
        aliases of the tables before it), selectable as ``alias.column``.

        On PostgreSQL the row is read by a fenced ``LATERAL`` subquery (``OFFSET 0`` keeps the planner from merging
        it into the join): a plain join let a prepared statement's generic plan, made on a table never analyzed,
        scan every row of the tenant (``tenant_id`` leads every key) and keep that plan until the table was next
        analyzed; fenced, the lookup is planned alone, as a probe of the key. SQLite plans a plain join as that
        probe. ``tests/storage/test_pg_plans.py`` holds every hot statement to its key.
        """
        join = "LEFT JOIN" if outer else "JOIN"
        if self.name == "sqlite":
            return f"{join} {table} AS {alias} ON {on}"
        # Table, columns and conditions come from code; values are always bound parameters.
        lookup = f"SELECT {columns} FROM {table} AS {alias} WHERE {on} OFFSET 0"  # noqa: S608
        return f"{join} LATERAL ({lookup}) AS {alias} ON TRUE"


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql")


def _binder(names: tuple[str, ...], order: tuple[str, ...]) -> Callable[[Params], tuple[Any, ...]]:
    """A function from parameters to the values of ``names``, in order (C speed through itemgetter). ``order`` is
    the order :class:`Values` come in; a name may stand in ``names`` more than once."""
    by_name: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    if not names:
        by_name = lambda params: ()  # noqa: E731
    elif len(names) == 1:
        (only,) = names
        by_name = lambda params: (params[only],)  # noqa: E731
    else:
        by_name = itemgetter(*names)
    positions = tuple(order.index(name) for name in names)
    if positions == tuple(range(len(order))):

        def bind(params: Params) -> tuple[Any, ...]:
            return params if type(params) is Values else by_name(params)  # type: ignore[arg-type]

        return bind

    def bind_reordered(params: Params) -> tuple[Any, ...]:
        if type(params) is Values:
            return tuple(params[position] for position in positions)
        return by_name(params)  # type: ignore[arg-type]

    return bind_reordered


class Statement:
    """One SQL statement with ``:name`` parameters, rendered for both databases once, when it is defined.

    ``source`` is the SQL, or a function of the :class:`Dialect` that returns it. :attr:`names` lists the distinct
    parameters in order of first use. A parameter missing from a mapping at bind time raises :class:`KeyError`;
    extra entries are ignored.
    """

    __slots__ = ("names", "postgresql", "postgresql_args", "sqlite", "sqlite_args", "sqlite_names")

    def __init__(self, source: str | Callable[[Dialect], str]) -> None:
        sqlite_text, self.sqlite_names = _render(_source_for(source, SQLITE), numbered=False)
        postgresql_text, self.names = _render(_source_for(source, POSTGRESQL), numbered=True)
        self.sqlite = sqlite_text
        """The SQLite text, with ``?`` placeholders."""
        self.postgresql = postgresql_text
        """The PostgreSQL text, with ``$n`` placeholders."""
        if set(self.sqlite_names) != set(self.names):
            raise ValueError(f"the dialects' renderings take different parameters: {self.postgresql}")
        self.sqlite_args: Callable[[Params], tuple[Any, ...]] = _binder(self.sqlite_names, self.names)
        """The positional values for :attr:`sqlite`."""
        self.postgresql_args: Callable[[Params], tuple[Any, ...]] = _binder(self.names, self.names)
        """The positional values for :attr:`postgresql`."""

    def __repr__(self) -> str:
        return f"Statement({self.postgresql!r})"


def _source_for(source: str | Callable[[Dialect], str], dialect: Dialect) -> str:
    return source if isinstance(source, str) else source(dialect)


def _render(sql: str, *, numbered: bool) -> tuple[str, tuple[str, ...]]:
    """``sql`` with each ``:name`` replaced by ``?`` (every use listed) or ``$n`` (each name numbered once)."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if not numbered:
            names.append(name)
            return "?"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKENS.sub(replace, sql), tuple(names)
