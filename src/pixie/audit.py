"""The audit log: one JSON line per flow event, to stderr or a file, written off the request path.

Events are built without secrets (no tokens, codes, passwords or secret hashes ever enter them), so the log cannot
leak one; a test greps a full flow's log for every credential it saw. Requests only append events to a buffer; a
background task hands them over in batches, so a sign-in never waits for the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sys
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

from pixie.events import FlowEvent

__all__ = ["AuditLog", "audit_bytes", "audit_line"]

log = logging.getLogger("pixie.audit")


def audit_line(event: FlowEvent) -> str:
    """The JSON line for ``event`` (without its newline): stable keys first, then the event's own fields (those
    that are set)."""
    return audit_bytes(event)[:-1].decode()


def audit_bytes(event: FlowEvent) -> bytes:
    """:func:`audit_line` as UTF-8 with its newline: what the log writes (no text round trip per event)."""
    line: dict[str, Any] = {
        "ts": _timestamp(event.at),
        "event": event.kind,
        "tenant": event.tenant_id,
        "client": event.client_id,
        "outcome": event.outcome,
        "error": event.error,
        "correlation_id": event.correlation_id,
        "duration_ms": event.duration_ms,
    }
    detail = event.details()
    if detail:
        line.update(detail)
    return orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE)


def _encode(events: Sequence[FlowEvent]) -> bytes:
    """The lines of ``events``, each written into one buffer as soon as it is encoded. Holding a batch's lines as
    separate ``bytes`` until a join made each encode many times slower: orjson's output buffer could not be reused,
    so every line took fresh memory from the allocator (page faults, counted as system time)."""
    out = io.BytesIO()
    write = out.write
    for event in events:
        write(audit_bytes(event))
    return out.getvalue()


_last_second: list[Any] = [None, ""]  # [int | None, str]
"""The last whole second formatted and its text: events arrive thousands per second, and formatting a datetime
each time was a large share of the line's cost. (One slot; a race between threads only costs a second format.)"""
_MILLIS = tuple(f".{millis:03d}+00:00" for millis in range(1000))
"""The tail of a timestamp for each millisecond (formatting it per event cost as much as the rest of the line)."""


def _timestamp(at: float) -> str:
    """``at`` as ISO 8601 UTC with milliseconds, the form ``datetime.isoformat(timespec="milliseconds")`` gives."""
    second = int(at)
    micros = round((at - second) * 1_000_000)  # as datetime rounds a float timestamp: to the microsecond, half-even
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    cached = _last_second
    if cached[0] != second:
        cached[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached[0] = second
    prefix: str = cached[1]
    return prefix + _MILLIS[micros // 1000]


class AuditLog:
    """An :class:`~pixie.events.EventOutlet` writing :func:`audit_line` s to ``target`` ("stderr" or a file path).

    The event sink hands it each flushed batch (:meth:`write`, on the event loop). A file is written at once: one
    buffered write per batch into the page cache, no fsync, as SQLite's WAL is written (on a worker thread each
    batch cost a GIL hand-off, and a context switch with the server on one core). stderr is a pipe that blocks while
    its reader is slow, so :meth:`run` (a background task) writes it from a worker thread; at most ``capacity``
    lines wait for it, and a batch that would overflow is dropped and counted rather than held.
    """

    def __init__(self, target: str, *, capacity: int = 100_000) -> None:
        self._target = target
        self._file: BinaryIO | None = (
            None if target == "stderr" else open(target, "ab")  # noqa: SIM115 (closed in close())
        )
        self._pending: deque[bytes] = deque()  # stderr: encoded batches waiting for the writer
        self._pending_lines = 0
        self._wakeup = asyncio.Event()
        self._capacity = capacity
        self._closed = False
        self.dropped = 0

    def write(self, events: Sequence[FlowEvent]) -> None:
        """Encode ``events`` and write them to the file, or queue them for stderr. Never raises: a full disk must
        not stop sign-ins; it is said once per batch."""
        if self._closed:  # a late flush while the server stops
            self.dropped += len(events)
            return
        try:
            data = _encode(events)
            if self._file is not None:
                self._file.write(data)
                self._file.flush()
                return
        except Exception as exc:
            self.dropped += len(events)
            log.error("audit log: dropped %d events (%s: %s)", len(events), type(exc).__name__, exc)
            return
        if self._pending_lines + len(events) > self._capacity:
            self.dropped += len(events)
            return
        self._pending.append(data)
        self._pending_lines += len(events)
        self._wakeup.set()

    def _take(self) -> bytes:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_lines = 0
        return data

    async def run(self) -> None:
        """Write what is queued for stderr as it comes, until cancelled; then write what is left and close."""
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                data = self._take()
                try:
                    await asyncio.to_thread(_write_stderr, data)
                except Exception as exc:
                    log.error("audit log: could not write to stderr (%s: %s)", type(exc).__name__, exc)
        finally:
            self.close()

    def close(self) -> None:
        """Write what is still queued (blocking: the server is stopping) and close the file."""
        self._closed = True
        if self._pending:
            with contextlib.suppress(Exception):
                _write_stderr(self._take())
        if self._file is not None:
            self._file.close()


def _write_stderr(data: bytes) -> None:
    stream = sys.stderr  # looked up each time: it may have been replaced (test runners capture it)
    binary: BinaryIO | None = getattr(stream, "buffer", None)
    if binary is None:
        stream.write(data.decode())
    else:
        stream.flush()  # text already written to it goes first
        binary.write(data)
        binary.flush()
    stream.flush()
