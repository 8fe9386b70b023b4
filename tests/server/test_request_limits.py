"""Bounded input: a body past 64 KiB is refused with 413 before it is parsed, announced or streamed, and an
authorization request with too many parameters is refused on our error page (never redirected).

Spec: RFC 9110 §15.5.14, RFC 6749 §4.1.2.1 and §5.2.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from pixie.server.request_limits import MAX_BODY_BYTES


@pytest.fixture
def http(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=20) as client:
        yield client


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:200]
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/login"])
def test_an_announced_oversized_body_is_refused(http: httpx.Client, path: str) -> None:
    body = b"a=" + b"x" * MAX_BODY_BYTES
    _assert_too_large(http.post(path, content=body, headers={"content-type": "application/x-www-form-urlencoded"}))


def test_a_streamed_body_that_never_announced_its_size_is_cut_off(http: httpx.Client) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):  # up to 1 MiB, in chunked transfer encoding
            sent += 16384
            yield b"x" * 16384

    response = http.post("/token", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    _assert_too_large(response)


def test_a_body_at_the_limit_is_read(http: httpx.Client) -> None:
    body = b"grant_type=client_credentials&pad=" + b"x" * (MAX_BODY_BYTES - 40)
    response = http.post("/token", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_non_numeric_content_length_is_a_bad_request(live_server: str) -> None:
    parts = urlsplit(live_server)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
    assert b"Traceback" not in reply


def test_too_many_authorization_parameters_render_our_error_page(http: httpx.Client) -> None:
    params = [("client_id", "anything"), *[(f"p{i}", "v") for i in range(80)]]
    response = http.get("/authorize", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "too many parameters" in response.text
    assert "location" not in response.headers


def test_a_small_content_length_cannot_smuggle_a_large_chunked_body(live_server: str) -> None:
    """Content-Length and Transfer-Encoding together: the limit still holds whichever framing the server follows."""
    parts = urlsplit(live_server)
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    head = b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    head += b"Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + body)
        reply = sock.recv(4096)
    assert reply.split(b"\r\n", 1)[0] in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 413 Request Entity Too Large"), reply
