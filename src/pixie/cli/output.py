"""What commands print: aligned tables and ``field: value`` lists for people, JSON for scripts (``--json``).

Written by hand rather than with a table library: a listing command should start as fast as ``--help`` does, and a
table of plain columns needs no more than this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

__all__ = ["Column", "echo_fields", "echo_json", "echo_table", "iso_time", "json_option"]

F = TypeVar("F", bound=Callable[..., Any])

Column = tuple[str, str]
"""A table column: its heading and the key of the row's value."""

_MAX_CELL = 60


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table.")(func)


def echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _cell(value: object, limit: int = _MAX_CELL) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = ", ".join(str(each) for each in value) if isinstance(value, list | tuple) else str(value)
    # Names are checked to be printable when stored; still, never let a stored value move the terminal's cursor.
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def echo_table(rows: Sequence[Mapping[str, object]], columns: Sequence[Column], *, empty: str) -> None:
    """``rows`` as columns aligned on their widest cell, headed by the columns' names; ``empty`` when no rows."""
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(row.get(key)) for _, key in columns] for row in rows]
    headings = [heading for heading, _ in columns]
    widths = [max(len(text) for text in column) for column in zip(headings, *cells, strict=False)]
    for line in [headings, *cells]:
        click.echo("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())


def echo_fields(fields: Iterable[tuple[str, object]]) -> None:
    """One ``label  value`` line per field, the values aligned."""
    pairs = [(label, _cell(value, limit=10_000)) for label, value in fields]
    width = max((len(label) for label, _ in pairs), default=0)
    for label, value in pairs:
        click.echo(f"{(label + ':').ljust(width + 1)}  {value}")


def iso_time(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
