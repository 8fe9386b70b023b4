"""Request-level bounds in front of Pixie, on a real ``pixie serve`` process over loopback (uvicorn with httptools
and :class:`pixie.server.http_limits.LimitedHttpToolsProtocol`, as it runs in production):

* the request line may be 16 KiB (line ending included): one that long reaches Pixie, one byte more is refused by
  the HTTP server with 414 and Pixie never sees it;
* a header field line may be 16 KiB and the whole head 64 KiB; past either, 431 — whatever the client goes on
  sending, the server holds no more than that (eight 50 MiB headers at once leave its memory where it was);
* the head must be complete within the header timeout (1 s here, ``PIXIE_HTTP_HEADER_TIMEOUT``) of the connection
  opening or of a later request's first byte: a slow head gets 408, a connection that sends nothing is closed;
* a query with more parameters than an authorization request can have is refused on Pixie's error page;
* the bounds hold with ``--workers N`` and in ``pixie demo``, and a bad setting is a one-line start-up error.

Spec: RFC 9112 §3 (414 for a too-long request line), RFC 9110 §5.4 and RFC 6585 §5 (431), RFC 9110 §15.5.9 (408),
RFC 9110 §4.1 ("a server ought to be able to handle URIs of at least 8000 octets"), RFC 6749 §4.1.2.1.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fuzz.support import RawResponse, raw_get, raw_request
from livesupport import cli_env, free_port, pixie_process, run_pixie

MAX_LINE = 16 * 1024
MAX_HEAD = 64 * 1024
HEADER_TIMEOUT = 1.0
MiB = 1024 * 1024


@dataclass(frozen=True)
class Served:
    base: str
    port: int
    pid: int

    def rss(self) -> int:
        """Resident memory of the server process, in bytes (Linux ``/proc``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextmanager
def pixie_server(args: list[str], env: Mapping[str, str], ready_path: str = "/healthz") -> Iterator[Served]:
    """Start ``pixie ARGS --port P`` and wait until ``ready_path`` answers; yield its address and process id."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pixie_process([*args, "--port", str(port)], env, base + ready_path) as proc:
        yield Served(base, port, proc.pid)


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    return cli_env(workdir, f"sqlite:///{workdir / 'pixie.db'}", extra)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("bounds")
    with pixie_server(["serve"], _env(workdir, PIXIE_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT))) as server:
        yield server


def _is_refusal(response: RawResponse, status: int) -> bool:
    """The HTTP server's own refusal: ``status``, a short text, and the connection closed."""
    return (
        response.status == status
        and (response.header("content-type") or "").startswith("text/plain")
        and (response.header("connection") or "").lower() == "close"
        and len(response.body) < 100
    )


def _request_line_target(line_length: int) -> str:
    """A target that makes ``GET {target} HTTP/1.1\\r\\n`` exactly ``line_length`` bytes long."""
    prefix = "/authorize?client_id=nobody&state="
    return prefix + "a" * (line_length - len("GET  HTTP/1.1\r\n") - len(prefix))


def _head(target: str, *lines: str, host: str = "127.0.0.1") -> bytes:
    return ("\r\n".join([f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close", *lines]) + "\r\n\r\n").encode()


def _padding_line(length: int, name: str = "X-Padding") -> str:
    """A header field line of exactly ``length`` bytes with its CRLF."""
    return f"{name}: " + "a" * (length - len(name) - 4)


# --- sizes ---------------------------------------------------------------------------------------------------------


def test_the_longest_request_line_reaches_pixie(served: Served) -> None:
    response = raw_get(served.base, _request_line_target(MAX_LINE))
    # Pixie's own answer: its error page for an unknown client (RFC 6749 §4.1.2.1: never a redirect).
    assert response.status == 400 and (response.header("content-type") or "").startswith("text/html")
    assert b"unknown client" in response.body


@pytest.mark.parametrize("line_length", [MAX_LINE + 1, 60_000, 65_535 + 100, MiB])
def test_a_longer_request_line_is_414(served: Served, line_length: int) -> None:
    response = raw_get(served.base, _request_line_target(line_length))
    assert _is_refusal(response, 414), (response.status, response.headers, response.body[:100])


def test_a_header_line_at_the_limit_is_read(served: Served) -> None:
    response = raw_request(served.base, _head("/healthz", _padding_line(MAX_LINE)))
    assert response.status == 200, response.body[:200]


def test_a_longer_header_line_is_431(served: Served) -> None:
    response = raw_request(served.base, _head("/healthz", _padding_line(MAX_LINE + 1)))
    assert _is_refusal(response, 431), (response.status, response.headers, response.body[:100])


def _head_of_size(size: int) -> bytes:
    """A ``GET /healthz`` head of exactly ``size`` bytes, made of header lines under the line limit."""
    head = _head("/healthz")
    lines: list[str] = []
    room = size - len(head)
    while room > 0:
        length = min(room, 8000)
        if 0 < room - length < 20:  # keep every line long enough to hold a name
            length -= 20
        lines.append(_padding_line(length, f"X-Pad-{len(lines)}"))
        room -= length
    head = _head("/healthz", *lines)
    assert len(head) == size
    return head


def test_a_head_at_the_limit_is_read(served: Served) -> None:
    response = raw_request(served.base, _head_of_size(MAX_HEAD))
    assert response.status == 200, response.body[:200]


def test_a_larger_head_is_431(served: Served) -> None:
    response = raw_request(served.base, _head_of_size(MAX_HEAD + 1))
    assert _is_refusal(response, 431), (response.status, response.headers, response.body[:100])


def test_a_huge_header_is_431(served: Served) -> None:
    """Past the limit the server answers at once and drops the rest: the client reads the 431."""
    response = raw_request(served.base, _head("/healthz", _padding_line(512 * 1024)))
    assert _is_refusal(response, 431), (response.status, response.headers, response.body[:100])


def _send_huge_header(port: int, size: int, statuses: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
            chunk = b"a" * MiB
            for _ in range(size // MiB):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server closed the connection, as it should, long before the end
        try:
            statuses.append(sock.recv(64).split(b"\r\n")[0])
        except OSError:
            statuses.append(b"(reset)")


def test_eight_huge_headers_leave_memory_where_it_was(served: Served) -> None:
    """Eight clients sending a 50 MiB header each, at once: the server reads at most the head limit (and a lingering
    second) of each, so its resident memory stays within a few MiB of where it was."""
    for _ in range(3):  # warm up: the refusal path and the allocator's arenas
        raw_request(served.base, _head("/healthz", _padding_line(200 * 1024)))
        raw_get(served.base, "/healthz")
    before = served.rss()
    statuses: list[bytes] = []
    senders = [threading.Thread(target=_send_huge_header, args=(served.port, 50 * MiB, statuses)) for _ in range(8)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    assert len(statuses) == 8
    assert raw_get(served.base, "/healthz").status == 200
    grown = served.rss() - before
    assert grown < 4 * MiB, f"RSS grew by {grown / MiB:.1f} MiB; statuses {statuses}"


# --- time ----------------------------------------------------------------------------------------------------------


def _read_response(sock: socket.socket) -> bytes:
    """One whole response, head and ``Content-Length`` body: it may arrive in several reads."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        body += chunk
    assert len(body) == length, "more than one response"
    return head + b"\r\n\r\n" + body


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def test_a_slow_head_is_408_after_the_header_timeout(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        answer = _read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert HEADER_TIMEOUT - 0.1 < waited < HEADER_TIMEOUT + 2


def test_a_trickled_head_is_cut_off_at_the_header_timeout(served: Served) -> None:
    """The timeout is for the whole head, not for each read: a byte every 0.2 s does not keep it open."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        while not select.select([sock], [], [], 0.2)[0]:
            assert time.monotonic() - started < HEADER_TIMEOUT + 5, "the trickle was never cut off"
            sock.sendall(b"a")
        waited = time.monotonic() - started
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert HEADER_TIMEOUT - 0.1 < waited < HEADER_TIMEOUT + 2


def test_half_sent_heads_are_all_closed_after_the_header_timeout(served: Served) -> None:
    socks = [socket.create_connection(("127.0.0.1", served.port), timeout=HEADER_TIMEOUT + 5) for _ in range(100)]
    try:
        started = time.monotonic()
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answers = [_read_until_closed(sock) for sock in socks]
        waited = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), {a[:40] for a in answers}
    assert waited < HEADER_TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert time.monotonic() - started < HEADER_TIMEOUT + 2


def test_a_later_request_on_a_kept_alive_connection_has_its_own_timeout(served: Served) -> None:
    """The first request is answered; the second's head, left incomplete, gets 408 a timeout after its first byte
    (not after the connection opened, which was longer ago)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=HEADER_TIMEOUT + 5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = _read_response(sock)
        assert first.startswith(b"HTTP/1.1 200 "), first[:200]
        time.sleep(HEADER_TIMEOUT * 0.7)  # under the keep-alive timeout (5 s)
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        answer = _read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert HEADER_TIMEOUT * 0.9 < waited < HEADER_TIMEOUT + 2


# --- Pixie's own bound ---------------------------------------------------------------------------------------------


def test_a_flood_of_parameters_is_refused_on_the_error_page(served: Served) -> None:
    target = "/authorize?" + "&".join(f"p{i}=" for i in range(2_000))
    assert len(target) < MAX_LINE - 20
    response = raw_get(served.base, target)
    assert response.status == 400 and (response.header("content-type") or "").startswith("text/html")
    assert b"too many parameters" in response.body


# --- every way Pixie starts uvicorn --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "ready_path"),
    [(["serve", "--workers", "2"], "/healthz"), (["demo"], "/healthz")],
    ids=["serve-workers", "demo"],
)
def test_the_limits_hold_however_pixie_starts(tmp_path: Path, args: list[str], ready_path: str) -> None:
    with pixie_server(args, _env(tmp_path)) as server:
        for _ in range(4):  # new connections: with two workers, each is likely to take some
            response = raw_request(server.base, _head("/healthz", _padding_line(MAX_LINE + 1)))
            assert _is_refusal(response, 431), (response.status, response.headers, response.body[:100])
        assert raw_request(server.base, _head("/healthz", _padding_line(MAX_LINE))).status == 200


def test_the_limits_are_configurable(tmp_path: Path) -> None:
    env = _env(tmp_path, PIXIE_HTTP_MAX_LINE_BYTES="4096", PIXIE_HTTP_MAX_HEADER_BYTES="8192")
    with pixie_server(["serve"], env) as server:
        assert raw_request(server.base, _head("/healthz", _padding_line(4096))).status == 200
        assert _is_refusal(raw_request(server.base, _head("/healthz", _padding_line(4097))), 431)
        assert _is_refusal(raw_request(server.base, _head("/healthz", *[_padding_line(3000)] * 3)), 431)


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("PIXIE_HTTP_MAX_HEADER_BYTES", "lots", "PIXIE_HTTP_MAX_HEADER_BYTES must be a whole number"),
        ("PIXIE_HTTP_MAX_HEADER_BYTES", "1000", "must be at least PIXIE_HTTP_MAX_LINE_BYTES"),
        ("PIXIE_HTTP_HEADER_TIMEOUT", "0", "PIXIE_HTTP_HEADER_TIMEOUT must be a positive number"),
    ],
)
def test_a_bad_limit_is_a_one_line_error(tmp_path: Path, name: str, value: str, needle: str) -> None:
    result = run_pixie(["serve", "--port", str(free_port())], _env(tmp_path, **{name: value}))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("pixie: error: ") and needle in errors[0], result.stderr
    assert "Traceback" not in result.stderr
