"""One PostgreSQL database on :mod:`asyncpg` directly: the PostgreSQL driver's connections, calls, transactions and
failures.

A round trip to the server is the unit of cost here (a ``BEGIN`` … ``COMMIT`` pair adds two; asyncpg's own pool adds
futures, timers and a proxy per acquire, and a reset query per release). Hence three rules:

1. **One statement per call.** Every hot store method is a single autocommit statement — a conditional
   ``UPDATE … RETURNING``, an upsert, or a CTE that locks, checks and writes — so it costs one round trip and is
   atomic by itself. :meth:`Database.transaction` is kept for the rare multi-statement writes whose later statement
   must see rows committed while an earlier one waited for a lock (``revoke_family``), and for bulk work.
2. **A lean pool.** Idle connections are a LIFO list: taking one is a list pop and handing it back an append, with
   nothing to await and no reset query (Pixie never changes session state: no ``SET``, ``LISTEN``, cursors or
   advisory locks; a transaction is always finished or the connection dropped). Up to :data:`MAX_CONNECTIONS` per
   process are opened on demand and kept; a caller finding all busy queues for one, up to
   :data:`ACQUIRE_TIMEOUT_SECONDS`.
3. **Prepared statements.** asyncpg prepares each statement once per connection and caches it, so a call sends only
   Bind/Execute/Sync.

Failures: a connection the server or network closed is noticed when it is taken from the idle list and replaced
(no pre-ping round trip); one that dies during a call fails that call with
:class:`~pixie.storage.interfaces.StorageUnavailable` and is dropped — a read is retried once on a fresh
connection first. Connecting gives up after :data:`CONNECT_TIMEOUT_SECONDS`. While the database is away every call
fails fast (connection refused or reset) and the first call after it is back opens new connections: nothing to
restart. A server-reported error (duplicate key, a bug) leaves the connection in the pool; a cancelled call
(a caller's timeout) has asyncpg cancel the statement on the server, and the connection returns to the pool once
that is acknowledged; any other failure drops the connection, since its state is then unknown.

Connections belong to the event loop that opened them: used from another loop (a CLI or test runner that runs
several loops in turn), the database forgets the old loop's connections and opens new ones.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias, TypeVar

import asyncpg

from pixie.storage.interfaces import StorageUnavailable
from pixie.storage.pg.errors import is_unavailable, translate
from pixie.storage.statements.dialect import Params, Statement
from pixie.storage.statements.driver import Step

if TYPE_CHECKING:
    from asyncpg import Record

    Connection: TypeAlias = asyncpg.Connection[Record]

__all__ = [
    "ACQUIRE_TIMEOUT_SECONDS",
    "CONNECT_TIMEOUT_SECONDS",
    "MAX_CONNECTIONS",
    "STATEMENT_CACHE_SIZE",
    "Database",
    "rowcount",
]

R = TypeVar("R")

MAX_CONNECTIONS = 20
"""Connections per process: enough that calls rarely queue for one under concurrent load (a queued call costs a
future and a timer); two workers hold 40 of PostgreSQL's default 100."""

CONNECT_TIMEOUT_SECONDS = 10.0
"""How long opening a connection may take before the call fails with StorageUnavailable."""

ACQUIRE_TIMEOUT_SECONDS = 30.0
"""How long a call waits for a free connection when all are busy."""

STATEMENT_CACHE_SIZE = 256
"""Prepared statements kept per connection: more than the backend has, so none is ever prepared twice."""

_CLOSE_TIMEOUT_SECONDS = 2.0
_SETTLE_TIMEOUT_SECONDS = 5.0


def rowcount(status: str) -> int:
    """Rows affected, from a command status such as ``UPDATE 1``, ``DELETE 0`` or ``INSERT 0 3``."""
    return int(status.rpartition(" ")[2])


class _Connections:
    """The open connections of a :class:`Database`, kept apart from it so that a finalizer can close them."""

    def __init__(self) -> None:
        self.idle: list[Connection] = []
        self.generation_of: dict[Connection, int] = {}
        self.generation = 0
        """Bumped by :meth:`Database.dispose`: a connection of an older generation is closed when handed back."""

    def terminate_all(self) -> None:
        """Close every connection at once, without a goodbye (a finalizer, or an event loop that is gone)."""
        for connection in list(self.generation_of):
            with contextlib.suppress(Exception):  # its event loop may be closed already
                connection.terminate()
        self.idle.clear()
        self.generation_of.clear()


class Database:
    """A PostgreSQL database (already migrated: see :func:`pixie.storage.schema.migrate`) and the connections that use
    it. ``dsn`` is a libpq URL (``postgresql://user@host:5432/name``).

    Connections open lazily, on the first call. :meth:`dispose` closes them (the next call opens new ones, as
    SQLAlchemy's ``engine.dispose()`` does); :meth:`close` closes them for good. An unreferenced instance closes its
    connections itself.
    """

    def __init__(
        self,
        dsn: str,
        *,
        max_size: int = MAX_CONNECTIONS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        acquire_timeout: float = ACQUIRE_TIMEOUT_SECONDS,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._dsn = dsn
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._connections = _Connections()
        self._size = 0  # open connections plus those being opened
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._settling: set[asyncio.Task[None]] = set()
        self._closed = False
        self._finalizer = weakref.finalize(self, self._connections.terminate_all)

    @property
    def size(self) -> int:
        """Connections open or being opened now (for tests and metrics)."""
        return self._size

    # --- the driver's calls (pixie.storage.statements.driver) -------------------------------------------------------

    async def fetch_one(self, statement: Statement, params: Params) -> Record | None:
        """Retried once if the connection was lost."""
        return await self._call(_fetchrow, statement.postgresql, statement.postgresql_args(params), retry=True)

    async def fetch_all(self, statement: Statement, params: Params, *, bulk: bool = False) -> list[Record]:
        """Retried once if the connection was lost."""
        return await self._call(_fetch, statement.postgresql, statement.postgresql_args(params), retry=True)

    async def execute(self, statement: Statement, params: Params, *, bulk: bool = False) -> int:
        """Never retried: whether a lost connection's statement committed is unknown."""
        args = statement.postgresql_args(params)
        return rowcount(await self._call(_execute, statement.postgresql, args, retry=False))

    async def execute_returning(self, statement: Statement, params: Params, *, bulk: bool = False) -> list[Record]:
        """Never retried."""
        return await self._call(_fetch, statement.postgresql, statement.postgresql_args(params), retry=False)

    async def transaction(self, steps: Sequence[Step], *, bulk: bool = False) -> list[int]:
        """``BEGIN`` … ``COMMIT`` around the steps (a step of many rows is one pipelined ``executemany``); a single
        statement run once needs no transaction and goes alone, in one round trip. Never retried."""
        if len(steps) == 1 and len(steps[0][1]) == 1:
            statement, (params,) = steps[0]
            return [await self.execute(statement, params)]
        counts: list[int] = []
        async with self._transaction() as connection:
            for statement, rows in steps:
                if len(rows) == 1:
                    counts.append(
                        rowcount(await connection.execute(statement.postgresql, *statement.postgresql_args(rows[0])))
                    )
                elif rows:
                    await connection.executemany(statement.postgresql, [statement.postgresql_args(row) for row in rows])
                    counts.append(len(rows))
                else:
                    counts.append(0)
        return counts

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row of a read-only statement given as text (retried once if the connection
        was lost): for checks outside the stores."""
        return await self._call(_fetchval, sql, args, retry=True)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """``BEGIN`` … ``COMMIT`` on one connection, rolled back on any exception; errors are translated."""
        connection = await self._acquire()
        try:
            await connection.execute("BEGIN")
            yield connection
            await connection.execute("COMMIT")
        except BaseException as exc:
            _raise_translated(exc, await self._abandon_transaction(connection, exc))
        self._release(connection)

    async def dispose(self) -> None:
        """Close every connection: idle ones now, busy ones when their call ends. The next call opens new ones."""
        connections = self._connections
        connections.generation += 1
        idle, connections.idle = connections.idle, []
        for connection in idle:
            self._forget(connection)
        await asyncio.gather(*(_close(connection) for connection in idle))

    async def close(self) -> None:
        """Close every connection for good: later calls raise StorageUnavailable."""
        self._closed = True
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(StorageUnavailable("database unavailable: the database is closed"))
        settling = list(self._settling)
        for task in settling:
            task.cancel()
        await asyncio.gather(*settling, return_exceptions=True)
        await self.dispose()
        self._finalizer.detach()

    def dispose_now(self) -> None:
        """Close every connection at once, from synchronous code (connections in use are cut off mid-call; callers
        waiting for one open their own)."""
        self._connections.generation += 1
        self._connections.terminate_all()
        self._size = 0
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done():
                self._size += 1  # the slot handed over below
                waiter.set_result(None)

    # --- running one call -----------------------------------------------------------------------------------------

    async def _call(
        self,
        method: Callable[[Connection, str, Sequence[Any]], Awaitable[R]],
        sql: str,
        args: Sequence[Any],
        *,
        retry: bool,
    ) -> R:
        connection = await self._acquire()
        try:
            result = await method(connection, sql, args)
        except BaseException as exc:
            lost = self._after_failure(connection, exc)
            if not (retry and lost and isinstance(exc, Exception)):
                _raise_translated(exc, lost)
            # A read on a connection that had died unnoticed (dropped while idle): once more on a fresh one.
            connection = await self._acquire()
            try:
                result = await method(connection, sql, args)
            except BaseException as again:
                _raise_translated(again, self._after_failure(connection, again))
        self._release(connection)
        return result

    def _after_failure(self, connection: Connection, exc: BaseException) -> bool:
        """Keep or drop the connection a call failed on; True when it was lost (closed) by then."""
        lost = connection.is_closed()
        if lost:
            self._drop(connection)
        elif isinstance(exc, asyncpg.PostgresError) and not is_unavailable(exc):
            self._release(connection)  # the server reported an error and the protocol is in sync: reusable
        elif isinstance(exc, asyncio.CancelledError):
            self._settle_later(connection)
        else:
            self._drop(connection)
        return lost

    def _settle_later(self, connection: Connection) -> None:
        """A call was cancelled mid-statement (a caller's timeout): asyncpg has asked the server to cancel the
        statement — so it does not run on, holding locks, or commit unseen. The connection keeps its slot until it
        answers again, then returns to the pool; dropped if it does not within :data:`_SETTLE_TIMEOUT_SECONDS`."""
        task = asyncio.get_running_loop().create_task(self._settle(connection))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, connection: Connection) -> None:
        try:
            async with asyncio.timeout(_SETTLE_TIMEOUT_SECONDS):
                await connection.fetchval("SELECT 1")  # waits for the cancellation to be acknowledged first
        except BaseException:
            self._drop(connection)
            raise
        self._release(connection)

    async def _abandon_transaction(self, connection: Connection, exc: BaseException) -> bool:
        """Roll back after a failure inside :meth:`transaction`; True when the connection was lost."""
        if connection.is_closed():
            self._drop(connection)
            return True
        if isinstance(exc, Exception) and not is_unavailable(exc):
            try:
                await connection.execute("ROLLBACK")
            except BaseException:
                self._drop(connection)
                raise
            self._release(connection)
        else:  # cancelled or cut off: the session's state is unknown
            self._drop(connection)
        return False

    # --- the pool -------------------------------------------------------------------------------------------------

    async def _acquire(self) -> Connection:
        if self._closed:
            raise StorageUnavailable("database unavailable: the database is closed")
        if asyncio.get_running_loop() is not self._loop:
            self._adopt_running_loop()
        idle = self._connections.idle
        while True:
            while idle:
                connection = idle.pop()
                if not connection.is_closed():
                    return connection
                self._drop(connection)  # closed by the server or the network while idle
            if self._size < self._max_size:
                return await self._open()
            connection_or_slot = await self._wait()
            if connection_or_slot is None:  # a connection was dropped: its slot is ours
                return await self._open(slot_taken=True)
            if not connection_or_slot.is_closed():
                return connection_or_slot
            self._drop(connection_or_slot)

    async def _open(self, *, slot_taken: bool = False) -> Connection:
        if not slot_taken:
            self._size += 1
        try:
            if self._closed:
                raise StorageUnavailable("database unavailable: the database is closed")
            connection: Connection = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                statement_cache_size=STATEMENT_CACHE_SIZE,
                server_settings={"application_name": "pixie"},
            )
        except BaseException as exc:
            self._size -= 1
            self._hand_on(None)
            _raise_translated(exc, False)
        self._connections.generation_of[connection] = self._connections.generation
        return connection

    async def _wait(self) -> Connection | None:
        """Queue for a connection handed back by another call (or the slot of a dropped one: None)."""
        assert self._loop is not None
        waiter: asyncio.Future[Connection | None] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._acquire_timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed over just as we gave up: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._hand_on(None)
                else:
                    self._release(handed)
            if isinstance(exc, TimeoutError):
                raise StorageUnavailable(
                    f"database unavailable: no free connection within {self._acquire_timeout:g} s"
                ) from None
            raise

    def _release(self, connection: Connection) -> None:
        connections = self._connections
        if (
            connections.generation_of.get(connection) != connections.generation
            or connection.is_closed()
            or connection.is_in_transaction()
        ):
            self._drop(connection)
            return
        if self._waiters and self._hand_on(connection):
            return
        connections.idle.append(connection)

    def _hand_on(self, connection: Connection | None) -> bool:
        """Give ``connection`` (or a free slot: None) to the first caller still waiting; False when none is."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _drop(self, connection: Connection) -> None:
        """Close a connection that must not be reused, and give its slot to a waiting caller."""
        if connection in self._connections.generation_of:
            self._forget(connection)
            if not connection.is_closed():
                connection.terminate()
            self._hand_on(None)

    def _forget(self, connection: Connection) -> None:
        del self._connections.generation_of[connection]
        self._size -= 1

    def _adopt_running_loop(self) -> None:
        if self._loop is not None:  # connections of another (usually closed) loop cannot be used here
            self._connections.terminate_all()
            self._size = 0
            self._waiters.clear()
            self._settling.clear()
        self._loop = asyncio.get_running_loop()


async def _close(connection: Connection) -> None:
    try:
        await connection.close(timeout=_CLOSE_TIMEOUT_SECONDS)
    except Exception:  # a goodbye that fails leaves nothing behind worth reporting
        connection.terminate()


async def _fetchrow(connection: Connection, sql: str, args: Sequence[Any]) -> Record | None:
    return await connection.fetchrow(sql, *args)


async def _fetch(connection: Connection, sql: str, args: Sequence[Any]) -> list[Record]:
    return await connection.fetch(sql, *args)


async def _fetchval(connection: Connection, sql: str, args: Sequence[Any]) -> Any:
    return await connection.fetchval(sql, *args)


async def _execute(connection: Connection, sql: str, args: Sequence[Any]) -> str:
    return await connection.execute(sql, *args)


def _raise_translated(exc: BaseException, lost: bool) -> NoReturn:
    error = translate(exc, connection_lost=lost)
    if error is exc:
        raise exc
    raise error from exc
