"""Helpers of the client-library suite: who the seeded clients are, a form-posting "browser" that follows an
authorization URL to its callback, counters of token requests, and a ``pixie login`` subprocess driver."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from livesupport import PIXIE
from pixie.client import OAuthClient, TokenSet
from spec.support import PASSWORDS, Browser, Pixie, sha256_hex

SCOPES = ("properties:read", "tenants:read")
FULL_SCOPE = " ".join(SCOPES)
LOOPBACK_CB = "http://127.0.0.1/callback"  # registered without a port: any port matches (RFC 8252 §7.3)
APP_CB = "http://127.0.0.1:9/callback"  # a redirect URI on that registration, for flows completed by hand
RS_SECRET = "client-suite-resource-server-secret-0123"
SVC_SECRET = "client-suite-service-secret-0123456789ab"
SHORT_TTL = 3  # access-token lifetime of the "short" and "svc-short" clients, seconds


def follow_to_callback(browser: Browser, authorization_url: str, *, approve: bool = True) -> str:
    """Do what a user's browser does with ``authorization_url``: sign in with the login form if asked (alice),
    approve (or deny) the consent form if asked, and return the URL the server finally redirects to."""
    response = browser.http.get(authorization_url)
    assert response.status_code == 303, (response.status_code, response.text[:300])
    if urlsplit(response.headers["location"]).path == "/login":
        page = browser.follow(response, "/login")
        response = browser.submit_login(page, "alice", PASSWORDS["alice"])
        assert response.status_code == 303, response.text[:300]
    if urlsplit(response.headers["location"]).path == "/consent":
        page = browser.follow(response, "/consent")
        response = browser.submit_consent(page, "approve" if approve else "deny")
        assert response.status_code == 303, response.text[:300]
    location: str = response.headers["location"]
    return location


def signed_in(client: OAuthClient, browser: Browser, scope: str = FULL_SCOPE) -> TokenSet:
    """A fresh token set (a new refresh-token family) for ``client`` through a browser with a live session."""
    start = client.start_authorization(APP_CB, scope)
    return client.complete_authorization(start.transaction, follow_to_callback(browser, start.url))


def family(pixie: Pixie, refresh_token: str) -> tuple[int, float | None]:
    """(tokens issued in the refresh token's family, when the family was revoked), read from the database."""
    rows = pixie.query(
        "SELECT f.family_id, f.revoked_at FROM refresh_tokens t JOIN refresh_families f"
        " ON f.tenant_id = t.tenant_id AND f.family_id = t.family_id WHERE t.token_hash = ?",
        (sha256_hex(refresh_token),),
    )
    assert len(rows) == 1, rows
    family_id, revoked_at = rows[0]
    count = pixie.query("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = ?", (family_id,))[0][0]
    return int(count), revoked_at


def callback_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@dataclass
class TokenRequests:
    """Counts requests to a token endpoint by grant type, as an httpx request hook (sync or async client)."""

    token_endpoint: str
    grants: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> None:
        if str(request.url) == self.token_endpoint:
            grant = dict(parse_qsl(request.content.decode())).get("grant_type", "?")
            with self.lock:
                self.grants.append(grant)

    async def async_hook(self, request: httpx.Request) -> None:
        self(request)

    def count(self, grant: str) -> int:
        with self.lock:
            return self.grants.count(grant)


class LoginProcess:
    """``pixie login ...`` as a subprocess, its output collected by reader threads (no pipe can fill up)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [PIXIE, "login", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        self._stderr: list[str] = []
        self._stdout: list[str] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._stdout, None), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._stderr, self.stderr_lines), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: Any, sink: list[str], lines: queue.Queue[str] | None) -> None:
        for line in stream:
            sink.append(line)
            if lines is not None:
                lines.put(line)

    def authorization_url(self, timeout: float = 30) -> str:
        """The sign-in URL the command printed on stderr."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stderr_lines.get(timeout=0.2).strip()
            except queue.Empty:
                if self.proc.poll() is not None and self.stderr_lines.empty():
                    break
                continue
            if line.startswith("http"):
                return line
        raise AssertionError(f"no URL printed; stderr so far: {''.join(self._stderr)!r}")

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        """Wait for the exit: (return code, stdout, stderr)."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code, "".join(self._stdout), "".join(self._stderr)


def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
