"""Helpers of the fuzz suite: the server-side tally, the RFC 6749 §5.2 error check, real tokens on demand, and raw
HTTP for requests an HTTP client library would normalise.

Nothing here imports Pixie's error classes: the checks are written from the RFCs, so they can catch Pixie drifting.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spec.support import SPA_CB, WEB_SECRET, Pixie, Pkce, authorize_pairs, redirect_params

SOAK = os.environ.get("PIXIE_FUZZ_SOAK") == "1"
"""``PIXIE_FUZZ_SOAK=1``: many more examples per test (minutes, not seconds)."""


def examples(ci: int) -> int:
    """Examples per property: ``ci`` in a normal run, fifty times as many in a soak."""
    return ci * 50 if SOAK else ci


@dataclass
class Tally:
    """Figures of the servers under test as they answered: requests and statuses, every 5xx, and every response
    header carrying CR, LF or NUL (a header injection that got through). Fed by :class:`Tallied`."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    bad_headers: list[str] = field(default_factory=list)
    examples: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        fives = sum(n for status, n in self.statuses.items() if status >= 500)
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return (
            f"{sum(self.examples.values())} examples, {self.requests} requests, {fives} 5xx, "
            f"{len(self.bad_headers)} injected headers; statuses {statuses}"
        )


TALLY = Tally()


class Tallied:
    """Pure-ASGI wrapper around a server under test that counts into a :class:`Tally`."""

    def __init__(self, app: ASGIApp, tally: Tally = TALLY) -> None:
        self.app = app
        self.tally = tally

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tally = self.tally
        tally.requests += 1
        label = f"{scope['method']} {scope['path'][:80]}"

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                tally.statuses[status] += 1
                if status >= 500:
                    tally.server_errors.append(f"{status} {label}")
                for name, value in message.get("headers", []):
                    if any(ch in name + value for ch in (b"\r", b"\n", b"\x00")):
                        tally.bad_headers.append(f"{label}: {name!r}: {value[:120]!r}")
            await send(message)

        await self.app(scope, receive, counting_send)


@dataclass(frozen=True)
class Pending:
    """A pending authorization request and this browser's CSRF token for it."""

    request_id: str
    csrf: str


@dataclass(frozen=True)
class FuzzServer:
    """The running server, and alice's SSO session cookie (she has consented to every fuzz client)."""

    pixie: Pixie
    alice_cookie: str

    @property
    def base(self) -> str:
        return self.pixie.base

    def start_request(self, *, signed_in: bool) -> Pending:
        """A real pending request for ``spa``: at the login step, or (alice, ``prompt=consent``) at consent."""
        pairs = authorize_pairs(state="form-fuzz", extra=[("prompt", "consent")] if signed_in else ())
        cookies = {"pixie-session": self.alice_cookie} if signed_in else {}
        with self.pixie.client(cookies=cookies) as browser:
            response = browser.get("/authorize", params=tuple(pairs))
        assert response.status_code == 303, response.text[:300]
        request_id = httpx.URL(response.headers["location"]).params["request"]
        csrf = response.cookies.get(f"pixie-rq-{request_id}")
        assert csrf, response.headers
        return Pending(request_id, csrf)

    def mint_code(self, client_id: str = "spa", redirect_uri: str = SPA_CB) -> tuple[str, str]:
        """A fresh authorization code and its PKCE verifier, straight from ``/authorize`` (SSO, consented)."""
        pkce = Pkce.new()
        pairs = authorize_pairs(client_id=client_id, redirect_uri=redirect_uri, challenge=pkce.challenge)
        with self.pixie.client(cookies={"pixie-session": self.alice_cookie}) as browser:
            params = redirect_params(browser.get("/authorize", params=tuple(pairs)), redirect_uri)
        return params["code"], pkce.verifier

    def mint_tokens(self) -> dict[str, Any]:
        """A real token response (access + refresh) for ``spa``."""
        code, verifier = self.mint_code()
        with self.pixie.client() as http:
            response = http.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "code_verifier": verifier,
                    "client_id": "spa",
                    "redirect_uri": SPA_CB,
                },
            )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    def client_credentials_token(self) -> str:
        with self.pixie.client() as http:
            response = http.post("/token", data={"grant_type": "client_credentials"}, auth=("web", WEB_SECRET))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


def refused_head(status: int, content_type: str | None) -> bool:
    """Whether the HTTP server refused the request head before Pixie saw it, as ``pixie serve`` refuses heads past
    its bounds (:mod:`pixie.server.http_limits`): 414 for a request line, 431 for a header line or a whole head.
    Spec: RFC 9112 §3, RFC 6585 §5."""
    return status in (414, 431) and (content_type or "").startswith("text/plain")


def raw_request(base: str, request: bytes, *, timeout: float = 20) -> RawResponse:
    """Send ``request`` byte for byte on a fresh connection (``Connection: close`` is the caller's job) and parse
    the reply: for targets an HTTP library would re-encode or refuse to send."""
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    chunks: list[bytes] = []
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return RawResponse(status, headers, body)


def raw_get(base: str, target: str, headers: dict[str, str] | None = None) -> RawResponse:
    """``GET target`` with the target sent exactly as given (already percent-encoded, or deliberately not)."""
    host = urlsplit(base).netloc
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return raw_request(base, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
