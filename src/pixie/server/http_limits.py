"""Bounds on what a client can make the HTTP server hold before Pixie sees a request: the size of the request head
and the time it may take to arrive.

``pixie serve`` and ``pixie demo`` run uvicorn's httptools protocol, which bounds neither: httptools hands a header
to Python only once its name and value are complete, joining the pieces as they arrive, so one endless header grows
in memory for as long as the client sends it; and a client that sends its head slowly (or not at all) keeps its
connection as long as it likes ("slowloris"). :class:`LimitedHttpToolsProtocol` is that protocol with the bounds a
front-end server keeps:

- the request line at most ``max_line_bytes`` (414 URI Too Long, RFC 9112 §3);
- each header field line at most ``max_line_bytes``, and the whole head (request line and header section) at most
  ``max_head_bytes`` (431 Request Header Fields Too Large, RFC 6585 §5);
- the head complete within ``header_timeout`` seconds of the connection opening, or of the first byte of a later
  request on it (408 Request Timeout, RFC 9110 §15.5.9; a connection that sent nothing is closed silently, as
  uvicorn closes an idle keep-alive connection).

Bytes are counted as they arrive, before the parser sees them, so a refused head has cost at most one read beyond
the limit. While a head is incomplete the parser is fed no more than the room left for it; once the head is
complete the rest of the read (the body) is passed on unchanged. The lines are scanned only when the head so far is
longer than one line may be, so an ordinary request, whose head arrives in one read, pays two comparisons. A request
pipelined behind another in the same read is counted from the next read on: it may pass the limits by that one read.

A refusal answers ``Connection: close``, shuts the write side and then reads and drops what the client still sends
for a moment (a lingering close): closing a socket with unread data makes the kernel send a reset, which can destroy
the answer before the client reads it.

The limits come from the environment (:meth:`HttpLimits.from_env`) and reach uvicorn as its ``http`` setting
(:func:`limited_httptools`), in the worker processes of ``--workers N`` as well.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from pixie.config import ConfigError

__all__ = ["DEFAULT_LIMITS", "HttpLimits", "LimitedHttpToolsProtocol", "limited_httptools"]

LINGER_SECONDS = 2.0
"""How long a refused connection keeps reading (and dropping) what the client still sends before it closes."""

LINGER_BYTES = 1024 * 1024
"""How much a refused connection reads and drops before it closes anyway: a client still sending this much is not
waiting for the answer."""

_REASONS = {
    408: b"The request head did not arrive in time.",
    414: b"The request line is too long.",
    431: b"The request header fields are too large.",
}


@dataclass(frozen=True)
class HttpLimits:
    """What one request head may be: its longest line, its whole size, and how long it may take to arrive.

    Spec: RFC 9112 §2.2 and §3 (request line), RFC 9110 §5.4 ("a server that receives a request header field line,
    field value, or set of fields larger than it wishes to process MUST respond with an appropriate 4xx"), RFC 6585
    §5, RFC 9110 §15.5.9.
    """

    max_line_bytes: int = 16 * 1024
    """The request line, or one header field line, line ending included."""
    max_head_bytes: int = 64 * 1024
    """The request line and every header field line together."""
    header_timeout: float = 5.0
    """Seconds from the connection opening (or a later request's first byte) until the head is complete."""

    def __post_init__(self) -> None:
        if self.max_line_bytes < 256:
            raise ConfigError(f"PIXIE_HTTP_MAX_LINE_BYTES must be at least 256, got {self.max_line_bytes}")
        if self.max_head_bytes < self.max_line_bytes:
            raise ConfigError(
                f"PIXIE_HTTP_MAX_HEADER_BYTES ({self.max_head_bytes}) must be at least "
                f"PIXIE_HTTP_MAX_LINE_BYTES ({self.max_line_bytes})"
            )
        if not (math.isfinite(self.header_timeout) and self.header_timeout > 0):
            raise ConfigError(
                f"PIXIE_HTTP_HEADER_TIMEOUT must be a positive number of seconds, got {self.header_timeout}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpLimits:
        """``PIXIE_HTTP_MAX_LINE_BYTES``, ``PIXIE_HTTP_MAX_HEADER_BYTES``, ``PIXIE_HTTP_HEADER_TIMEOUT`` (seconds);
        each falls back to the default. Raises :class:`~pixie.config.ConfigError` (one line) for a bad value."""
        base = cls()
        return cls(
            max_line_bytes=_whole(env, "PIXIE_HTTP_MAX_LINE_BYTES", base.max_line_bytes),
            max_head_bytes=_whole(env, "PIXIE_HTTP_MAX_HEADER_BYTES", base.max_head_bytes),
            header_timeout=_seconds(env, "PIXIE_HTTP_HEADER_TIMEOUT", base.header_timeout),
        )


DEFAULT_LIMITS = HttpLimits()


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise ConfigError(f"{name} must be a whole number of bytes, got {value[:40]!r}")
    return int(value)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {value[:40]!r}") from None


def limited_httptools(limits: HttpLimits = DEFAULT_LIMITS) -> type[asyncio.Protocol]:
    """uvicorn's ``http`` setting for a server that keeps ``limits``.

    uvicorn calls its ``http`` setting once per connection, as it would call a protocol class, and otherwise only
    reads ``alpn_protocols`` off it (there is none: HTTP/1.1 only). A :func:`functools.partial` rather than a class
    made on the fly, because ``--workers N`` pickles the uvicorn config into each worker process.
    """
    return cast("type[asyncio.Protocol]", partial(LimitedHttpToolsProtocol, limits=limits))


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._dropped = -1  # bytes dropped since a refusal; -1 until then
        self._heads_done = 0
        self._upgraded = False
        self._await_head()

    def _await_head(self) -> None:
        """The next bytes begin a request head: count it from zero."""
        self._in_head = True
        self._began = False  # no byte of this head seen by the parser yet
        self._head_bytes = 0  # bytes of this head fed to the parser
        self._line_bytes = 0  # bytes of its current, unfinished line
        self._request_line = True  # that line is the request line

    # --- connection and parser events ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._linger_timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads_done += 1
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._await_head()

    # --- counting ----------------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._dropped >= 0:
            self._drop(len(data))
            return
        if not self._in_head:
            super().data_received(data)
        else:
            limits = self.limits
            room = limits.max_head_bytes - self._head_bytes
            piece = data if len(data) <= room else data[: max(room, 0)]
            if not piece:
                self._refuse(431)
                return
            # The head so far fits in one line: no line can be too long, and the lines need no scan.
            scanned = self._head_bytes + len(piece) > limits.max_line_bytes
            if scanned:
                status = self._long_line(piece)
                if status:
                    self._refuse(status)
                    return
            heads_done = self._heads_done
            super().data_received(piece)
            if self.transport.is_closing() or self._upgraded:
                return  # refused by the parser (400), or upgraded to a WebSocket
            if self._heads_done == heads_done:  # the head goes on past this read
                if not scanned:
                    self._follow_lines(piece)
                self._head_bytes += len(piece)
                if len(piece) < len(data):
                    self._refuse(431)
                    return
            elif len(piece) < len(data):
                self.data_received(data[len(piece) :])  # the body, or a pipelined head
                return
        if self._in_head and (self._began or self._head_bytes):
            # A head begun in this read and still incomplete: a later request's timeout runs from here (the
            # first request's from the connection). A head read whole, the common case, never needs a timer.
            self._arm_head_timer()

    def _follow_lines(self, piece: bytes) -> None:
        """Where the current line stands after ``piece``, all of it head (no line in it can be too long)."""
        newline = piece.rfind(b"\n")
        if newline < 0:
            self._line_bytes += len(piece)
        else:
            self._line_bytes = len(piece) - newline - 1
            self._request_line = False

    def _long_line(self, piece: bytes) -> int:
        """Follow the head's lines through ``piece``: 0, or the status refusing a line past ``max_line_bytes``
        (414 for the request line, 431 for a header field line). Stops at the empty line that ends the head."""
        limit = self.limits.max_line_bytes
        start, line = 0, self._line_bytes
        while True:
            newline = piece.find(b"\n", start)
            line += (len(piece) if newline < 0 else newline + 1) - start
            if line > limit:
                return 414 if self._request_line else 431
            if newline < 0:
                self._line_bytes = line
                return 0
            if line <= 2 and not self._request_line:
                return 0  # the empty line: the head ends here, the rest is body
            self._request_line = False
            start, line = newline + 1, 0

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True  # the connection now belongs to the WebSocket protocol
        super().handle_websocket_upgrade()

    # --- timeout and refusal ---------------------------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._began or self._head_bytes:
            self._refuse(408)
        else:
            self.transport.close()  # nothing was sent: no request to answer

    def _refuse(self, status: int) -> None:
        """Answer ``status`` and close after a lingering close. When a response is still being sent on this
        connection (the refused head was pipelined behind its request) that response is finished instead, and the
        connection closes after it without an answer to the refused head."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._in_head = False
        self._dropped = 0  # from now on, whatever arrives is dropped
        self.logger.warning("Refused a request head: %s", STATUS_LINE[status][9:].decode("ascii").strip())
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        reason = _REASONS[status]
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: %d\r\n" % len(reason),
                b"connection: close\r\n\r\n",
                reason,
            ]
        )
        self.transport.write(b"".join(content))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _drop(self, size: int) -> None:
        self._dropped += size
        if self._linger_timer is not None and self._dropped > LINGER_BYTES:
            self.transport.close()
