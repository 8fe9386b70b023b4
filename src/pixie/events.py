"""Flow events: one frozen dataclass per step of a flow, and the sink that stores them without slowing requests.

Every event carries its tenant, client, outcome, error code and, where a flow spans several requests, the
correlation id minted with the pending authorization request (it travels on to the code and the token exchange).

Emitting never blocks and never fails a request: :class:`BufferedEventSink` counts the event for the metrics and
appends it to a bounded in-memory buffer; a background task hands the buffer to the audit log and webhooks and writes
it to the database in batches. When the buffer is full, events are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pixie.storage.interfaces import EventStore

__all__ = [
    "AuthorizationRequested",
    "BufferedEventSink",
    "ClientAuthenticationFailed",
    "CodeIssued",
    "ConsentDenied",
    "ConsentGranted",
    "EventOutlet",
    "EventSink",
    "FlowEvent",
    "Introspected",
    "KeyRotated",
    "LoginFailed",
    "LoginSucceeded",
    "NullEventSink",
    "RateLimited",
    "RefreshReuseDetected",
    "RefreshRotated",
    "TokenIssued",
    "TokenRevoked",
    "flush_periodically",
]

log = logging.getLogger("pixie.events")
_DETAIL_FIELDS: dict[type, tuple[str, ...]] = {}
"""Per event class, its own field names (``dataclasses.fields`` is slow enough to matter per event)."""
_BASE_FIELDS = ("tenant_id", "client_id", "outcome", "error", "duration_ms", "correlation_id", "at", "_detail")


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowEvent:
    kind: ClassVar[str] = "event"
    tenant_id: str
    client_id: str | None = None
    outcome: str = "success"
    error: str | None = None
    duration_ms: float | None = None
    correlation_id: str | None = None
    at: float = field(default_factory=time.time)
    reason: str | None = None
    """For failures: the error description (never a secret: descriptions quote no credentials)."""
    _detail: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    """:meth:`details`, once worked out (the audit line and the stored event both read it)."""

    def details(self) -> dict[str, Any]:
        """The fields beyond the common ones, those that are set (``grant_type``, ``family_id``, ``reason``...).
        Worked out once per event and kept; treat the result as read-only."""
        cached = self._detail
        if cached is not None:
            return cached
        names = _DETAIL_FIELDS.get(type(self))
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(self) if f.name not in _BASE_FIELDS)
            _DETAIL_FIELDS[type(self)] = names
        detail = {}  # a loop, not a comprehension: half the cost (a comprehension is a function call before 3.12)
        for name in names:
            value = getattr(self, name)
            if value is not None:
                detail[name] = value
        object.__setattr__(self, "_detail", detail)  # frozen for its fields; this cache is not one of them
        return detail

    # What an event store reads (:class:`~pixie.storage.records.EventData`): the sink hands events over as they are.
    @property
    def created_at(self) -> float:
        return self.at

    @property
    def detail(self) -> dict[str, Any]:
        return self.details()


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthorizationRequested(FlowEvent):
    kind = "authorization_requested"


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginSucceeded(FlowEvent):
    kind = "login_succeeded"


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginFailed(FlowEvent):
    kind = "login_failed"
    outcome: str = "failure"


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentGranted(FlowEvent):
    kind = "consent_granted"


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentDenied(FlowEvent):
    kind = "consent_denied"
    outcome: str = "failure"


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeIssued(FlowEvent):
    kind = "code_issued"


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenIssued(FlowEvent):
    kind = "token_issued"
    grant_type: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RefreshRotated(FlowEvent):
    kind = "refresh_rotated"
    family_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RefreshReuseDetected(FlowEvent):
    kind = "refresh_reuse_detected"
    outcome: str = "failure"
    error: str | None = "invalid_grant"
    family_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenRevoked(FlowEvent):
    kind = "token_revoked"
    token_type: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Introspected(FlowEvent):
    kind = "introspected"
    active: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientAuthenticationFailed(FlowEvent):
    kind = "client_authentication_failed"
    outcome: str = "failure"
    error: str | None = "invalid_client"


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimited(FlowEvent):
    kind = "rate_limited"
    outcome: str = "failure"


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyRotated(FlowEvent):
    kind = "key_rotated"
    kid: str


class EventSink(Protocol):
    def emit(self, event: FlowEvent) -> None:
        """Record ``event``; must return at once and never raise."""


class EventOutlet(Protocol):
    def write(self, events: Sequence[FlowEvent]) -> None:
        """Take a flushed batch (in the order emitted), on the event loop: queue or write it without blocking for
        long (the audit log, webhooks). May raise; the sink logs the failure and goes on."""


class NullEventSink:
    """Discards events (benchmarks measure the cost of events against it)."""

    def emit(self, event: FlowEvent) -> None:
        return None


class BufferedEventSink:
    """The app's one event sink: counts each event as it comes (``count``, for the metrics), keeps it in a bounded
    buffer, and every ``interval`` seconds (:meth:`run`, a background task) hands what gathered to each ``outlet``
    and writes it to the :class:`EventStore` in batches of ``batch``.

    One buffer and one drain for every destination: on the token endpoint, what an event costs follows the number
    of hands it passes through (a fan-out to four sinks, each with its own buffer, capacity check and background
    task), not the work each does. A full buffer drops events and counts them rather than growing.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        outlets: Sequence[EventOutlet] = (),
        count: Callable[[FlowEvent], None] | None = None,
        capacity: int = 10_000,
        batch: int = 500,
        interval: float = 0.25,
    ) -> None:
        self._store = store
        self._outlets = tuple(outlets)
        self._count = count
        self._buffer: deque[FlowEvent] = deque()
        self._capacity = capacity
        self._batch = batch
        self._interval = interval
        self.dropped = 0

    def emit(self, event: FlowEvent) -> None:
        if self._count is not None:
            try:
                self._count(event)
            except Exception:  # a metrics fault must never fail a request (nor cost the event its storage)
                log.exception("could not count event %s", event.kind)
        if len(self._buffer) >= self._capacity:
            self.dropped += 1
            return
        self._buffer.append(event)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Hand what is buffered when the flush begins to the outlets and the store; returns how many events the store
        took. A failed write drops (and counts) that batch rather than growing without bound."""
        written = 0
        # Only what is buffered now: each write yields to the loop, and requests served meanwhile emit more. Chasing
        # them would turn one flush into a stream of tiny batches (one per turn of a busy loop) that never ends;
        # they wait for the next interval instead and go out in full batches.
        remaining = len(self._buffer)
        while remaining > 0 and self._buffer:
            size = min(self._batch, remaining, len(self._buffer))
            remaining -= size
            chunk = [self._buffer.popleft() for _ in range(size)]
            for outlet in self._outlets:
                try:
                    outlet.write(chunk)
                except Exception as exc:  # one line per batch, as below
                    name, error = type(outlet).__name__, type(exc).__name__
                    log.error("%s failed on %d events (%s: %s)", name, len(chunk), error, exc)
            try:
                await self._store.append(chunk)
                written += len(chunk)
            except Exception as exc:  # one line per batch: during an outage a traceback each time is noise
                self.dropped += len(chunk)
                log.error("dropped %d events: the event store failed (%s: %s)", len(chunk), type(exc).__name__, exc)
        return written

    async def run(self) -> None:
        """Flush every ``interval`` seconds until cancelled, then flush once more."""
        await flush_periodically(self.flush, self._interval)


async def flush_periodically(flush: Callable[[], Awaitable[object]], interval: float) -> None:
    """Await ``flush()`` every ``interval`` seconds until cancelled, then once more (shielded, so what was buffered
    is written even while the task is being cancelled; a failing last flush is swallowed: shutdown goes on)."""
    try:
        while True:
            await asyncio.sleep(interval)
            await flush()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(flush())
