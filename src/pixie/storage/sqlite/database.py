"""One SQLite file driven from the event loop: the SQLite driver's connection, transactions, retries and checkpoints.

Concurrency model — statements run synchronously on the calling (event-loop) thread over one connection. A primary
key read or a committed write (WAL, ``synchronous=NORMAL``: no fsync) costs about as much as handing a call to a
thread and back, so the loop does the work itself, under three rules that keep it from ever waiting (the costs
behind the choice are in ``bench/RESULTS.md``; ``bench/storage_ops.py`` measures them):

1. **No fsync on the loop.** ``wal_autocheckpoint = 0``: commits only append to the WAL. Every
   :data:`CHECKPOINT_EVERY` commits (or once a second while writing) a ``PRAGMA wal_checkpoint(PASSIVE)`` runs on a
   worker thread with its own connection; a passive checkpoint never blocks readers or writers.
2. **No busy waiting on the loop.** The loop's connection has ``busy_timeout = 0``: when another process (``pixie
   serve --workers N``, a CLI command) holds the write lock, the statement fails at once with ``SQLITE_BUSY``, having
   done nothing, and the whole unit of work is retried after an ``asyncio.sleep`` with jittered exponential back-off
   (0.2 ms doubling to 5 ms) until :data:`BUSY_DEADLINE_SECONDS` have passed; then it raises
   :class:`~pixie.storage.interfaces.StorageUnavailable` ("database is locked"). The loop serves other requests
   meanwhile.
3. **Bulk work off the loop.** Purges, listings, bulk tenant creation and the analytics queries (``bulk=True`` in
   the driver's calls, :meth:`Database.offload`) run on the worker thread's connection, which may wait for the lock
   in SQLite's busy handler because it blocks nobody.

Atomicity: every write is one unit of work, a plain synchronous function of the connection run inside
``BEGIN IMMEDIATE`` … ``COMMIT`` with no ``await`` inside, so within this process no other task can interleave with
it (no in-process write gate is needed), and across processes ``BEGIN IMMEDIATE`` takes SQLite's write lock before
the first read. ``SQLITE_BUSY`` at any statement rolls back and retries from the start, so nothing is ever
half-applied.

Group commit: the units that tasks submit during one turn of the event loop run one after another in a single
transaction at the start of the next turn, and each caller resumes only once it is committed. Each unit sees the
writes of those before it, as if they had committed separately; one that raises is rolled back alone (the
transaction is run again without it) and its caller gets the error. A transaction costs a dozen file-lock calls and
a WAL frame per page it touches, so under concurrent load sharing it saves CPU per request. A write awaited alone
pays one extra turn of the loop.

Threads: the connection is opened lazily by the first call, with ``check_same_thread=False`` and a non-blocking
lock around each unit, so a store shared by two threads (tests, a CLI helper) stays correct; the server uses it from
its one event-loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from pixie.storage.interfaces import StorageUnavailable
from pixie.storage.sqlite.errors import is_busy, translate
from pixie.storage.statements.dialect import Params, Statement
from pixie.storage.statements.driver import Step

__all__ = [
    "BULK_PAGE_CACHE_KIB",
    "BUSY_DEADLINE_SECONDS",
    "CHECKPOINT_EVERY",
    "PAGE_CACHE_KIB",
    "WAL_RESET_FRAMES",
    "Database",
    "create_private_file",
]

log = logging.getLogger("pixie.storage")

PAGE_CACHE_KIB = 32 * 1024
"""Upper bound of the page cache of the connection that serves requests, in KiB."""
BULK_PAGE_CACHE_KIB = 2 * 1024
"""Upper bound of the worker thread's page cache, in KiB (SQLite's default). Its purges, listings and analytics read
rows once: a cache as large as the requests' one would hold what a purge swept through, up to 32 MiB more resident
memory, for nothing."""

R = TypeVar("R")
Work = Callable[[sqlite3.Connection], R]

BUSY_DEADLINE_SECONDS = 5.0
"""How long a call keeps retrying while another connection holds the write lock."""

CHECKPOINT_EVERY = 256
"""Commits between background checkpoints (SQLite's own default is 1,000 WAL pages; a write is 1–4 pages)."""

WAL_RESET_FRAMES = 4096
"""WAL size (pages of 4 KiB: 16 MiB) past which a background checkpoint truncates the WAL (see
:meth:`_Handles.checkpoint`)."""

_CHECKPOINT_INTERVAL_SECONDS = 1.0
_FIRST_BACKOFF_SECONDS = 0.0002
_MAX_BACKOFF_SECONDS = 0.005


class _Busy(Exception):
    """Internal: the unit did nothing because a lock was taken; retry it later."""


def create_private_file(path: str) -> None:
    """Create the database file at ``path``, empty and readable by its owner only (0600), unless it exists.

    SQLite creates a missing database file under the process's umask (0644 under the usual 022: readable by every
    local user, with its secret hashes and sealed signing keys, ARCHITECTURE §6.6), and creates the ``-wal``,
    ``-shm`` and ``-journal`` files with the permissions of the database file; creating the file first, private,
    makes all of them private. An existing file keeps its permissions. An empty file is a valid, empty database to
    SQLite. ``:memory:``, an empty path or a ``file:`` URI is left to SQLite, as is any failure here (a missing
    directory, say): SQLite reports it in its own words when it opens the path.
    """
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # O_EXCL: never through a symlink
    except OSError:
        return
    os.close(fd)


def open_connection(path: str, *, busy_timeout_ms: int, cache_kib: int = PAGE_CACHE_KIB) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue ``BEGIN`` ourselves) with WAL, ``synchronous=NORMAL``, foreign keys
    and no automatic checkpoints; a database file it creates is private (:func:`create_private_file`). Raises
    :class:`sqlite3.Error` (the caller translates it)."""
    create_private_file(path)
    connection = sqlite3.connect(
        path,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=256,
    )
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
        # SQLite's page cache holds 2 MiB by default: with thousands of tenants, every flow read its tenant's session,
        # user and consent from the file again (bench/tenants.py: 1.27x the cost of one tenant, 0.97x with 32 MiB).
        # A bound, not an allocation: pages are cached as they are read, up to this much per connection.
        connection.execute(f"PRAGMA cache_size = -{cache_kib:d}")
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        if mode not in ("wal", "memory"):
            try:
                connection.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                # WAL is a property of the file; switching needs the exclusive lock, which SQLite refuses at once
                # while another connection writes. Work in the current mode; a later connection converts the file.
                if not is_busy(exc):
                    raise
    except BaseException:
        connection.close()
        raise
    return connection


def _in_transaction(connection: sqlite3.Connection, work: Work[R]) -> R:
    try:
        connection.execute("BEGIN IMMEDIATE")
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:  # the original failure is the one to report
                log.debug("rollback failed", exc_info=True)
        raise
    return result


_Unit = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]
"""A unit's future, whether the unit succeeded, and its result or exception."""


def _settle(batch: list[_Unit], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def _run_batch(connection: sqlite3.Connection, todo: list[_Unit]) -> list[_Outcome]:
    """Run the units of ``todo`` in order in one transaction and commit it; per unit, its outcome.

    A unit that raises is dropped with its exception, and the transaction is rolled back and run again without it,
    so its partial writes vanish and the units after it see what they would have seen had it never run (failures
    are rare: a duplicate key, a bug). ``SQLITE_BUSY`` from any statement, and any failure of ``BEGIN``, ``COMMIT``
    or ``ROLLBACK``, is the whole transaction's: it is raised, after a rollback, with every unit undone.
    """
    failed: list[_Outcome] = []
    while todo:
        outcomes: list[_Outcome] = []
        error: tuple[int, Exception] | None = None
        try:
            connection.execute("BEGIN IMMEDIATE")
            for index, (work, future) in enumerate(todo):
                try:
                    outcomes.append((future, True, work(connection)))
                except sqlite3.Error as exc:
                    if is_busy(exc):
                        raise
                    error = (index, translate(exc))
                    break
                except Exception as exc:  # handed to that unit's caller
                    error = (index, exc)
                    break
            if error is None:
                connection.execute("COMMIT")
                return outcomes + failed
            connection.execute("ROLLBACK")
        except BaseException:
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:  # the original failure is the one to report
                    log.debug("rollback failed", exc_info=True)
            raise
        index, failure = error
        failed.append((todo[index][1], False, failure))
        todo = todo[:index] + todo[index + 1 :]
    return failed


class _Handles:
    """What a :class:`Database` must close, kept apart from it so that a finalizer can close it."""

    def __init__(self, path: str, deadline: float, wal_reset_frames: int) -> None:
        self.path = path
        self.deadline = deadline
        self.wal_reset_frames = wal_reset_frames
        self.wal_resets = 0
        self.reset_wanted = False
        """Set by the worker thread while it truncates the WAL: the loop holds new writes back meanwhile."""
        self.loop_connection: sqlite3.Connection | None = None
        self.worker_connection: sqlite3.Connection | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.closed = False

    def worker(self) -> ThreadPoolExecutor:
        if self.closed:
            raise StorageUnavailable("database unavailable: the database is closed")
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixie-sqlite")
        return self.executor

    def run_in_worker(self, work: Work[R], write: bool) -> R:
        """Runs on the worker thread; may block there in SQLite's busy handler (it holds up nobody)."""
        try:
            connection = self.worker_connection
            if connection is None:
                timeout = int(self.deadline * 1000)
                connection = open_connection(self.path, busy_timeout_ms=timeout, cache_kib=BULK_PAGE_CACHE_KIB)
                self.worker_connection = connection
            return _in_transaction(connection, work) if write else work(connection)
        except sqlite3.Error as exc:
            error = translate(exc)
            if error is exc:
                raise
            raise error from exc

    def checkpoint(self) -> None:
        """Copy committed WAL frames into the database file and fsync, without waiting for anyone (worker thread);
        then, when the WAL has grown past ``wal_reset_frames``, start it over.

        Under constant writes a passive checkpoint never finds the WAL fully copied at the moment of the next write
        (frames arrive while it copies), and only then does SQLite reuse the WAL from its start: the file would grow
        without bound, and with it the WAL index mapped into the process's memory. ``TRUNCATE`` copies the few
        frames the passive pass left, waits for readers to leave the WAL and truncates it; it holds the write lock
        only for that short copy, and the loop's writers meanwhile get ``SQLITE_BUSY`` and retry without blocking
        the loop.
        """
        try:
            [(_, log_frames, _)] = self.run_in_worker(
                lambda connection: connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall(), False
            )
            if log_frames > self.wal_reset_frames:
                self.reset_wanted = True
                try:
                    [(busy, _, _)] = self.run_in_worker(
                        lambda connection: connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall(), False
                    )
                finally:
                    self.reset_wanted = False
                self.wal_resets += 0 if busy else 1
        except Exception:  # a failed checkpoint loses nothing: the frames stay in the WAL for the next one
            log.warning("WAL checkpoint failed", exc_info=True)

    def close_worker_connection(self) -> None:
        connection, self.worker_connection = self.worker_connection, None
        if connection is not None:
            connection.close()

    def close(self, wait: bool) -> None:
        self.closed = True
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.submit(self.close_worker_connection)  # after the jobs already queued
            executor.shutdown(wait=wait)
        connection, self.loop_connection = self.loop_connection, None
        if connection is not None:
            connection.close()  # the last connection to the file checkpoints it and removes the WAL


class Database:
    """A SQLite file (already migrated: see :func:`pixie.storage.schema.migrate`) and the connections that use it.

    Open it lazily (the first call connects) and :meth:`close` it when done; an unreferenced instance closes itself.
    """

    def __init__(
        self,
        path: str,
        *,
        busy_deadline: float = BUSY_DEADLINE_SECONDS,
        checkpoint_every: int = CHECKPOINT_EVERY,
        wal_reset_frames: int = WAL_RESET_FRAMES,
    ) -> None:
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ValueError("the embedded SQLite backend needs a database file: use sqlite:///PATH")
        self.path = path
        self.checkpoints = 0
        """Background checkpoints completed (for tests and metrics)."""
        self.transactions = 0
        """Write transactions committed on the loop's connection; with group commit, fewer than writes (for tests
        and metrics)."""
        self._handles = _Handles(path, busy_deadline, wal_reset_frames)
        self._deadline = busy_deadline
        self._checkpoint_every = checkpoint_every
        self._lock = threading.Lock()
        self._commits = 0
        self._last_checkpoint = time.monotonic()
        self._checkpoint_pending = False
        self._batches: dict[asyncio.AbstractEventLoop, list[_Unit]] = {}
        """Units of work submitted during the current turn of each event loop (one entry per loop that writes)."""
        self._retrying: set[asyncio.Task[None]] = set()
        self._finalizer = weakref.finalize(self, self._handles.close, False)

    # --- the driver's calls (pixie.storage.statements.driver): each is one unit of work ---------------------------

    async def fetch_one(self, statement: Statement, params: Params) -> Any:
        sql, args = statement.sqlite, statement.sqlite_args(params)

        def fetch(connection: sqlite3.Connection) -> Any:
            return connection.execute(sql, args).fetchone()

        try:  # read()'s body, inline: the hottest call of all, a point read
            return self._attempt(fetch)
        except _Busy:
            return await self._retry(fetch)

    async def fetch_all(self, statement: Statement, params: Params, *, bulk: bool = False) -> list[Any]:
        sql, args = statement.sqlite, statement.sqlite_args(params)

        def fetch(connection: sqlite3.Connection) -> list[Any]:
            return connection.execute(sql, args).fetchall()

        return await (self.offload(fetch, write=False) if bulk else self.read(fetch))

    async def execute(self, statement: Statement, params: Params, *, bulk: bool = False) -> int:
        sql, args = statement.sqlite, statement.sqlite_args(params)

        def run(connection: sqlite3.Connection) -> int:
            return connection.execute(sql, args).rowcount

        if bulk:
            return await self.offload(run, write=True)
        if self._handles.reset_wanted:  # write()'s body, inline: a write is the hot path's other call
            await self._wait_for_wal_reset()
        return await self._submit(run)

    async def execute_returning(self, statement: Statement, params: Params, *, bulk: bool = False) -> list[Any]:
        sql, args = statement.sqlite, statement.sqlite_args(params)

        def run(connection: sqlite3.Connection) -> list[Any]:
            return connection.execute(sql, args).fetchall()

        return await (self.offload(run, write=True) if bulk else self.write(run))

    async def transaction(self, steps: Sequence[Step], *, bulk: bool = False) -> list[int]:
        """One unit of work: every step in one write transaction (shared with the other units of this turn of the
        loop, unless ``bulk``)."""
        prepared = [(statement.sqlite, [statement.sqlite_args(each) for each in params]) for statement, params in steps]

        def run(connection: sqlite3.Connection) -> list[int]:
            counts = []
            for sql, rows in prepared:
                if len(rows) == 1:
                    counts.append(connection.execute(sql, rows[0]).rowcount)
                else:
                    connection.executemany(sql, rows)
                    counts.append(len(rows))
            return counts

        return await (self.offload(run, write=True) if bulk else self.write(run))

    # --- running work -------------------------------------------------------------------------------------------

    async def read(self, work: Work[R]) -> R:
        """Run ``work`` (one or more SELECTs; a single statement is its own snapshot) on the loop's connection."""
        try:
            return self._attempt(work)
        except _Busy:
            return await self._retry(work)

    async def write(self, work: Work[R]) -> R:
        """Run ``work`` in a ``BEGIN IMMEDIATE`` … ``COMMIT`` transaction on the loop's connection; returns once
        that transaction is committed.

        Group commit: the units of work that tasks submit during one turn of the event loop run, in order, in one
        transaction at the start of the next turn (see :meth:`_flush`). Each unit still sees the effects of those
        before it and nothing half-done: a unit that raises is left out, as if it had rolled back alone.
        """
        if self._handles.reset_wanted:
            await self._wait_for_wal_reset()
        return await self._submit(work)

    def _submit(self, work: Work[R]) -> asyncio.Future[R]:
        """Queue ``work`` for this turn's batch (see :meth:`write`); the future settles once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = []
            loop.call_soon(self._flush, loop)
        batch.append((work, future))
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the units queued during the last turn of ``loop`` in one transaction and settle their futures."""
        batch = self._batches.pop(loop)
        try:
            self._attempt_batch(batch)
        except _Busy:
            task = loop.create_task(self._retry_batch(batch))
            self._retrying.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._retrying.discard)
        except BaseException:
            _settle(batch, StorageUnavailable("database unavailable: the write failed"))
            raise

    async def _retry_batch(self, batch: list[_Unit]) -> None:
        deadline = time.monotonic() + self._deadline
        delay = _FIRST_BACKOFF_SECONDS
        try:
            while True:
                # Jitter spreads the retries of several processes; random is fine here (nothing secret).
                await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311
                try:
                    self._attempt_batch(batch)
                    return
                except _Busy:
                    if time.monotonic() >= deadline:
                        _settle(batch, StorageUnavailable("database unavailable: database is locked"))
                        return
                    delay = min(delay * 2, _MAX_BACKOFF_SECONDS)
        except BaseException:  # cancelled at shutdown: nobody may wait forever
            _settle(batch, StorageUnavailable("database unavailable: the write was abandoned"))
            raise

    def _attempt_batch(self, batch: list[_Unit]) -> None:
        """One transaction for the units of ``batch`` whose callers still wait (a cancelled caller's unit is skipped:
        it never happened), then their futures are settled. Raises :class:`_Busy`, having done nothing and settled
        nothing, when another connection or thread holds the lock."""
        if not self._lock.acquire(blocking=False):
            raise _Busy
        try:
            todo = [(work, future) for work, future in batch if not future.done()]
            if not todo:
                return
            try:
                connection = self._handles.loop_connection or self._connect()
                try:
                    outcomes = _run_batch(connection, todo)
                finally:
                    if connection.in_transaction:  # only after a failed ROLLBACK: never reuse a half-open one
                        self._discard(connection)
            except sqlite3.Error as exc:
                if is_busy(exc):
                    raise _Busy from None
                _settle(todo, translate(exc))
                return
            except Exception as exc:  # every caller of the batch gets it
                _settle(todo, exc)
                return
        finally:
            self._lock.release()
        self.transactions += 1
        self._committed()
        for future, succeeded, value in outcomes:
            if future.done():
                continue
            if succeeded:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _wait_for_wal_reset(self) -> None:
        """Until the worker has truncated the WAL (bounded by the busy deadline: then the write just competes)."""
        deadline = time.monotonic() + self._deadline
        delay = _FIRST_BACKOFF_SECONDS
        while self._handles.reset_wanted and time.monotonic() < deadline:  # set by the worker thread
            # Doubling: every write waiting here polls, and a truncation can take tens of milliseconds; at a fixed
            # 0.2 ms each waiting request would wake up to 5,000 times a second.
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_SECONDS)

    async def offload(self, work: Work[R], *, write: bool) -> R:
        """Run ``work`` on the worker thread's connection (in a transaction when ``write``): for bulk statements
        whose cost would stall the loop (purges, analytics)."""
        handles = self._handles
        try:
            future = handles.worker().submit(handles.run_in_worker, work, write)
        except RuntimeError as exc:  # shut down by close()
            raise StorageUnavailable("database unavailable: the database is closed") from exc
        result = await asyncio.wrap_future(future)
        if write:
            self._committed()
        return result

    @property
    def wal_resets(self) -> int:
        """Times a background checkpoint truncated a WAL grown past its limit (for tests and metrics)."""
        return self._handles.wal_resets

    def close(self) -> None:
        """Wait for background work, then close every connection (the last one checkpoints the WAL)."""
        if self._finalizer.detach() is not None:
            self._handles.close(wait=True)

    # --- internals ----------------------------------------------------------------------------------------------

    def _attempt(self, work: Work[R]) -> R:
        """Run a read on the loop's connection; :class:`_Busy` when another thread holds it or a lock is taken."""
        if not self._lock.acquire(blocking=False):
            raise _Busy
        try:
            connection = self._handles.loop_connection
            if connection is None:
                connection = self._connect()
            try:
                result = work(connection)
            finally:
                if connection.in_transaction:  # only after a failed ROLLBACK: never reuse a half-open transaction
                    self._discard(connection)
        except sqlite3.Error as exc:
            if is_busy(exc):
                raise _Busy from None
            error = translate(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            self._lock.release()
        return result

    def _connect(self) -> sqlite3.Connection:
        if self._handles.closed:
            raise StorageUnavailable("database unavailable: the database is closed")
        connection = open_connection(self.path, busy_timeout_ms=0)
        self._handles.loop_connection = connection
        return connection

    def _discard(self, connection: sqlite3.Connection) -> None:
        """Drop a connection left inside a transaction; closing it rolls back, and the next call reconnects."""
        self._handles.loop_connection = None
        try:
            connection.close()
        except sqlite3.Error:
            log.warning("closing a broken SQLite connection failed", exc_info=True)

    async def _retry(self, work: Work[R]) -> R:
        deadline = time.monotonic() + self._deadline
        delay = _FIRST_BACKOFF_SECONDS
        while True:
            # Jitter spreads the retries of several processes; random is fine here (nothing secret).
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311
            try:
                return self._attempt(work)
            except _Busy:
                if time.monotonic() >= deadline:
                    raise StorageUnavailable("database unavailable: database is locked") from None
                delay = min(delay * 2, _MAX_BACKOFF_SECONDS)

    def _committed(self) -> None:
        self._commits += 1
        if self._checkpoint_pending:
            return
        if self._commits >= self._checkpoint_every or time.monotonic() - self._last_checkpoint >= (
            _CHECKPOINT_INTERVAL_SECONDS
        ):
            self._schedule_checkpoint()

    def _schedule_checkpoint(self) -> None:
        self._checkpoint_pending = True
        self._commits = 0
        self._last_checkpoint = time.monotonic()
        try:
            future = self._handles.worker().submit(self._handles.checkpoint)
        except (RuntimeError, StorageUnavailable):  # closing: the last connection's close checkpoints
            return
        future.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, future: Future[None]) -> None:
        self.checkpoints += 1
        self._checkpoint_pending = False
