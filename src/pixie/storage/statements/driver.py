"""What the stores need of a database: the calls both connection layers (:mod:`pixie.storage.sqlite`,
:mod:`pixie.storage.pg`) provide, so that every store is written once over them.

Reads and writes are separate calls because the drivers treat them differently: SQLite runs reads at once on the
event loop's connection and queues writes for group commit; PostgreSQL retries a read whose connection was lost,
never a write (whether it committed is unknown). ``bulk`` marks work that may take long — purges, listings of a
whole tenant, analytics — which SQLite runs on its worker thread so that the event loop never waits for it;
PostgreSQL runs it as any other call.

Every call is atomic on its own. :meth:`Driver.transaction` runs several statements as one: each later statement
sees what the earlier ones wrote, and on PostgreSQL (read committed) rows that other transactions committed while an
earlier statement waited for a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pixie.storage.statements.codec import Row
from pixie.storage.statements.dialect import Params, Statement

__all__ = ["Driver", "Step"]

Step = tuple[Statement, Sequence[Params]]
"""One statement of a :meth:`Driver.transaction`, run once for each parameter mapping given (none: not at all)."""


class Driver(Protocol):
    async def fetch_one(self, statement: Statement, params: Params) -> Row | None:
        """The first row a read returns, or None."""

    async def fetch_all(self, statement: Statement, params: Params, *, bulk: bool = False) -> Sequence[Row]:
        """Every row a read returns."""

    async def execute(self, statement: Statement, params: Params, *, bulk: bool = False) -> int:
        """Run a writing statement; the number of rows it changed."""

    async def execute_returning(self, statement: Statement, params: Params, *, bulk: bool = False) -> Sequence[Row]:
        """Run a writing statement with ``RETURNING``; the rows it returned."""

    async def transaction(self, steps: Sequence[Step], *, bulk: bool = False) -> list[int]:
        """Run ``steps`` in order in one transaction, all or nothing. Per step: the rows it changed when it ran once,
        else how many times it ran (a batch of rows is sent at once, and not every driver counts its changes)."""
