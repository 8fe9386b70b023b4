"""The audit log: one JSON line per flow event, to stderr or a file, written off the request path.

Events are built without secrets (no tokens, codes, passwords or secret hashes ever enter them), so the log cannot
leak one; a test greps a full flow's log for every credential it saw. Requests only append events to a buffer; a
background task writes the lines in batches, so a sign-in never waits for the log.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

from pixie.events import FlowEvent, flush_periodically

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


_last_second: list[Any] = [None, ""]  # [int | None, str]
"""The last whole second formatted and its text: events arrive thousands per second, formatting a datetime each
time was a third of the line's cost. (One slot; a race between threads only costs a second format.)"""
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
    """An :class:`~pixie.events.EventSink` writing :func:`audit_line` s to ``target`` ("stderr" or a file path).

    ``emit`` only appends the event to a bounded buffer; :meth:`run` (a background task) encodes what gathered
    and writes it with one call every ``interval`` seconds: to a file inline (a buffered write into the page cache,
    as SQLite's WAL is written), to stderr on a worker thread (a pipe blocks while its reader is slow). Measured on the
    token endpoint, a logging handler thread writing a record at a time cost a third of the throughput (GIL
    hand-offs and a flush per line); a batch costs one encode per event and one write per interval. A full buffer
    drops events and counts them rather than growing without bound.
    """

    def __init__(self, target: str, *, capacity: int = 100_000, interval: float = 0.2) -> None:
        self._target = target
        self._file: BinaryIO | None = (
            None if target == "stderr" else open(target, "ab")  # noqa: SIM115 (closed in run)
        )
        self._buffer: deque[FlowEvent] = deque()
        self._capacity = capacity
        self._interval = interval
        self.dropped = 0

    def emit(self, event: FlowEvent) -> None:
        if len(self._buffer) >= self._capacity:
            self.dropped += 1
            return
        self._buffer.append(event)

    async def flush(self) -> None:
        if not self._buffer:
            return
        events = [self._buffer.popleft() for _ in range(len(self._buffer))]
        try:
            data = b"".join([audit_bytes(event) for event in events])
            if self._file is not None:
                # A file: written inline, like SQLite's WAL (a buffered write into the page cache, no fsync). On a
                # worker thread, each flush cost a GIL hand-off, and a context switch with the server on one core.
                self._write(data)
            else:
                await asyncio.to_thread(self._write, data)  # a pipe (stderr) can block while its reader is slow
        except Exception as exc:  # a full disk must not stop sign-ins; say so once per batch
            self.dropped += len(events)
            log.error("audit log: dropped %d events (%s: %s)", len(events), type(exc).__name__, exc)

    def _write(self, data: bytes) -> None:
        if self._file is not None:
            self._file.write(data)
            self._file.flush()
            return
        stream = sys.stderr  # looked up each time: it may have been replaced (test runners capture it)
        binary: BinaryIO | None = getattr(stream, "buffer", None)
        if binary is None:
            stream.write(data.decode())
        else:
            stream.flush()  # text already written to it goes first
            binary.write(data)
            binary.flush()
        stream.flush()

    async def run(self) -> None:
        """Write every ``interval`` seconds until cancelled; then write what is left and close the file."""
        try:
            await flush_periodically(self.flush, self._interval)
        finally:
            if self._file is not None:
                self._file.close()
