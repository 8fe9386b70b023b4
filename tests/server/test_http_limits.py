""":mod:`pixie.server.http_limits` on its own: the settings, and the protocol's behaviour around a response that
takes longer than the header timeout, on a tiny app served by uvicorn over loopback (what ``pixie serve`` does with
the limits is in ``tests/fuzz/test_request_bounds.py``).

Spec: RFC 9110 §15.5.9 (408), RFC 6585 §5 (431), RFC 9112 §9.3.2 (pipelining: responses in request order).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from livesupport import free_port
from pixie.config import ConfigError
from pixie.server.http_limits import DEFAULT_LIMITS, HttpLimits, limited_httptools

TIMEOUT = 0.3
SLOW = 1.0


async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers ``/slow`` after :data:`SLOW` seconds (longer than the header timeout), anything else at once."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(SLOW)
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    port = free_port()
    limits = HttpLimits(max_line_bytes=1024, max_head_bytes=4096, header_timeout=TIMEOUT)
    config = uvicorn.Config(slow_app, port=port, log_level="error", http=limited_httptools(limits), lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _exchange(port: int, *parts: bytes) -> bytes:
    """Send ``parts`` in separate reads (a short pause between them), then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=SLOW + 5) as sock:
        for index, data in enumerate(parts):
            if index:
                time.sleep(0.05)
            sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_response_slower_than_the_header_timeout_is_sent_in_full(port: int) -> None:
    """The timer covers the head only: it is not running while the app works on the request."""
    answer = _exchange(port, b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"/slow"), answer


def test_pipelined_requests_behind_a_slow_one_are_answered_in_order(port: int) -> None:
    answer = _exchange(
        port,
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert answer.count(b"HTTP/1.1 200 ") == 3, answer
    assert answer.index(b"/slow") < answer.index(b"/second") < answer.index(b"/third")


def test_an_oversized_head_pipelined_behind_a_slow_request_ends_the_connection_after_its_response(port: int) -> None:
    """The refusal must not be written into the middle of the response being prepared: that response is sent, and
    the connection closes after it without answering the refused head."""
    answer = _exchange(port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /next HTTP/1.1\r\nX-Big: " + b"a" * 5000)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"/slow"), answer


def test_an_incomplete_head_pipelined_behind_a_slow_request_ends_the_connection_after_its_response(port: int) -> None:
    answer = _exchange(port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHo")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"/slow"), answer


def test_a_head_split_over_many_reads_is_counted_whole(port: int) -> None:
    """Five 1,000-byte header lines sent one by one: each under the line limit, together over the head limit."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n")
        try:
            for index in range(5):
                sock.sendall(b"X-%d: %s\r\n" % (index, b"a" * 993))
                time.sleep(0.02)  # separate reads
        except OSError:
            pass
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_a_line_split_over_many_reads_is_counted_whole(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nX-Long: ")
        try:
            for _ in range(6):
                sock.sendall(b"a" * 200)
                time.sleep(0.02)
        except OSError:
            pass
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_the_defaults() -> None:
    assert HttpLimits.from_env({}) == DEFAULT_LIMITS
    assert (DEFAULT_LIMITS.max_line_bytes, DEFAULT_LIMITS.max_head_bytes) == (16 * 1024, 64 * 1024)
    assert 1 <= DEFAULT_LIMITS.header_timeout <= 10


def test_settings_from_the_environment() -> None:
    env = {
        "PIXIE_HTTP_MAX_LINE_BYTES": "8192",
        "PIXIE_HTTP_MAX_HEADER_BYTES": "32768",
        "PIXIE_HTTP_HEADER_TIMEOUT": "2.5",
    }
    assert HttpLimits.from_env(env) == HttpLimits(max_line_bytes=8192, max_head_bytes=32768, header_timeout=2.5)


@pytest.mark.parametrize(
    "env",
    [
        {"PIXIE_HTTP_MAX_LINE_BYTES": "-1"},
        {"PIXIE_HTTP_MAX_LINE_BYTES": "²"},
        {"PIXIE_HTTP_MAX_LINE_BYTES": "100"},
        {"PIXIE_HTTP_MAX_LINE_BYTES": "70000"},
        {"PIXIE_HTTP_HEADER_TIMEOUT": "soon"},
        {"PIXIE_HTTP_HEADER_TIMEOUT": "nan"},
        {"PIXIE_HTTP_HEADER_TIMEOUT": "inf"},
        {"PIXIE_HTTP_HEADER_TIMEOUT": "-3"},
    ],
)
def test_bad_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        HttpLimits.from_env(env)
    assert "\n" not in str(caught.value) and next(iter(env)) in str(caught.value)
