"""The audit log: one JSON line per flow event, to stderr or a file, written off the request path.

Events are built without secrets (no tokens, codes, passwords or secret hashes ever enter them), so the log cannot
leak one; a test greps a full flow's log for every credential it saw. Writing happens on a background thread fed
by a queue: a slow disk never slows a sign-in.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from typing import Any

from pixie.events import FlowEvent

__all__ = ["AuditLog", "audit_line"]


def audit_line(event: FlowEvent) -> str:
    """The JSON line for ``event``: stable keys first, then the event's own fields."""
    record = event.to_record()
    line: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created_at, UTC).isoformat(timespec="milliseconds"),
        "event": record.kind,
        "tenant": record.tenant_id,
        "client": record.client_id,
        "outcome": record.outcome,
        "error": record.error,
        "correlation_id": record.correlation_id,
        "duration_ms": record.duration_ms,
        **record.detail,
    }
    return json.dumps(line, separators=(",", ":"), default=str)


class AuditLog:
    """An :class:`~pixie.events.EventSink` writing :func:`audit_line` s to ``target`` ("stderr" or a file path).

    Its logger is private to this instance (not registered with :mod:`logging`), so two apps in one process keep
    separate logs. Call :meth:`start` and :meth:`stop` around its use.
    """

    def __init__(self, target: str) -> None:
        handler: logging.Handler
        if target == "stderr":
            handler = logging.StreamHandler(sys.stderr)
        else:
            handler = logging.handlers.WatchedFileHandler(target, encoding="utf-8")  # follows logrotate
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._handler = handler
        self._logger = logging.Logger("pixie.audit", logging.INFO)
        self._logger.addHandler(logging.handlers.QueueHandler(self._queue))
        self._logger.propagate = False

    def start(self) -> None:
        self._listener.start()

    def stop(self) -> None:
        """Write what is queued, then close the file."""
        self._listener.stop()
        self._handler.close()

    def emit(self, event: FlowEvent) -> None:
        try:
            self._logger.info(audit_line(event))
        except Exception:  # the audit log must never fail a request
            return
