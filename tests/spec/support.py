"""Helpers of the specification suite: a step-by-step browser, request builders and response checks.

Everything talks to a real Pixie server over real HTTP (see ``conftest.py``); nothing here knows Pixie's internals
beyond its HTTP surface (ARCHITECTURE §5) and, for storage invariants, its table names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from pixie import pkce

# One TLS context for every client: building one per httpx.Client costs ~35 ms (certificate loading).
TLS = ssl.create_default_context()

SPA_CB = "http://127.0.0.1:9999/cb"
SPA_CB_OTHER = "http://127.0.0.1:9999/other"
QUERY_CB = "http://127.0.0.1:9999/cb?app=1"
NATIVE_CB = "http://127.0.0.1/cb"  # registered without a port: any port (RFC 8252 §7.3)
IPV6_CB = "http://[::1]/cb"
WEB_CB = "https://app.example/cb"
DEV_CB = "http://localhost:5173/callback"  # a public browser app on a development server: exact match
CC_CB = "https://cc.example/cb"
WEB_SECRET = "web-client-secret-0123456789-abcdefghijkl"
SCOPES = ("properties:read", "tenants:read")
GENERIC_LOGIN_FAILURE = "Invalid username or password."
ERROR_PAGE_TITLE = "This request cannot be completed"

PASSWORDS = {
    "alice": "alice-in-wonderland",
    "dave": "dave-davidson-pw",
    "mallory": "mallory-is-disabled",
}

Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = pkce.generate_verifier()
        return cls(verifier, pkce.create_challenge(verifier))


@dataclass(frozen=True)
class Pixie:
    """The running server under test: its base URL (= issuer of the default tenant) and its SQLite file."""

    base: str
    db_path: Path
    user_ids: Mapping[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.base

    @property
    def origin(self) -> str:
        return self.base

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, verify=TLS, timeout=20, **kwargs)

    def db_bytes(self) -> bytes:
        """The database as stored on disk: the main file and its write-ahead log (recent writes live there)."""
        data = b""
        for suffix in ("-wal", ""):
            path = Path(f"{self.db_path}{suffix}")
            if path.exists():
                data += path.read_bytes()
        return data

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with _connect(self.db_path) as connection:
            return list(connection.execute(sql, params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _connect(self.db_path) as connection:
            count = connection.execute(sql, params).rowcount
            connection.commit()
            return count


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user's SSO session cookie, and the Set-Cookie header that created it."""

    cookie: str
    set_cookie: str


class _connect:
    """``sqlite3.connect`` as a context manager that also closes (the stdlib one only commits)."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, timeout=10)

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def authorize_pairs(
    *,
    drop: Iterable[str] = (),
    extra: Iterable[tuple[str, str]] = (),
    challenge: str | None = None,
    **values: str,
) -> Pairs:
    """A valid authorization request for client ``spa`` unless told otherwise; ``drop`` removes parameters,
    ``extra`` appends (possibly repeated) ones, keyword arguments replace values."""
    base = {
        "client_id": "spa",
        "redirect_uri": SPA_CB,
        "response_type": "code",
        "code_challenge": challenge or Pkce.new().challenge,
        "code_challenge_method": "S256",
        "state": "st-123",
        "scope": "properties:read",
    }
    base.update(values)
    for name in drop:
        base.pop(name, None)
    return [*base.items(), *extra]


_HIDDEN = re.compile(r'name="(request|csrf_token)" value="([^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    fields = dict(_HIDDEN.findall(html))
    assert set(fields) == {"request", "csrf_token"}, "the page has no login/consent form"
    return fields


def redirect_params(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """Check a 303 to exactly ``redirect_uri`` (its own query kept, no fragment, no parameter twice) and return
    the parameters the server added.

    Spec: RFC 6749 §3.1.2 (query component retained), §4.1.2; RFC 9700 §4.12 (303).
    """
    assert response.status_code == 303, (response.status_code, response.text[:300])
    location = response.headers["location"]
    got, want = urlsplit(location), urlsplit(redirect_uri)
    assert (got.scheme, got.netloc, got.path) == (want.scheme, want.netloc, want.path), location
    assert got.fragment == "" and "#" not in location
    pairs = parse_qsl(got.query, keep_blank_values=True)
    registered = parse_qsl(want.query, keep_blank_values=True)
    assert pairs[: len(registered)] == registered, f"registered query not retained: {location}"
    added = pairs[len(registered) :]
    names = [name for name, _ in added]
    assert len(names) == len(set(names)), f"a parameter appears twice: {location}"
    return dict(added)


def assert_error_page(response: httpx.Response, status: int = 400) -> None:
    """Our own HTML error page, never a redirect (RFC 6749 §4.1.2.1, §3.1.2.4)."""
    assert response.status_code == status, (response.status_code, response.headers.get("location"))
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text


def assert_json_error(response: httpx.Response, error: str, status: int = 400) -> dict[str, Any]:
    """RFC 6749 §5.2: JSON ``error`` (+ ``error_description``), never cached."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert isinstance(body.get("error_description"), str) and body["error_description"]
    return body


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """Decode (without verifying) the header (0) or claims (1) of a compact JWS."""
    segment = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


class Browser:
    """A browser we drive by hand: keeps cookies, follows no redirect on its own."""

    def __init__(self, pixie: Pixie, cookies: Mapping[str, str] | None = None) -> None:
        self.pixie = pixie
        self.http = pixie.client(cookies=dict(cookies or {}))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authorize(self, pairs: Pairs) -> httpx.Response:
        return self.http.get("/authorize", params=tuple(pairs))

    def follow(self, response: httpx.Response, step: str) -> httpx.Response:
        """GET the interaction page ``step`` ("/login", "/consent") the server redirected to."""
        assert response.status_code == 303, (response.status_code, response.text[:300])
        location = response.headers["location"]
        assert urlsplit(location).path == step, location
        page = self.http.get(location)
        assert page.status_code == 200, page.text[:300]
        return page

    def login_page(self, pairs: Pairs) -> httpx.Response:
        return self.follow(self.authorize(pairs), "/login")

    def submit_login(self, page: httpx.Response, username: str, password: str, **override: str) -> httpx.Response:
        data = {**hidden_fields(page.text), "username": username, "password": password, **override}
        return self.http.post("/login", data=data)

    def submit_consent(self, page: httpx.Response, decision: str = "approve", **override: str) -> httpx.Response:
        data = {**hidden_fields(page.text), "decision": decision, **override}
        return self.http.post("/consent", data=data)

    def session_cookie(self) -> str | None:
        return self.http.cookies.get("pixie-session")

    def code(self, pairs: Pairs, redirect_uri: str = SPA_CB) -> str:
        """A code straight from /authorize (needs a live session and remembered consent)."""
        params = redirect_params(self.authorize(pairs), redirect_uri)
        assert "error" not in params, params
        return params["code"]


def sign_in(browser: Browser, username: str, *, client_id: str = "spa", redirect_uri: str = SPA_CB) -> httpx.Response:
    """Log ``username`` in through ``client_id``'s flow (approving consent if asked); return the login response."""
    page = browser.login_page(authorize_pairs(client_id=client_id, redirect_uri=redirect_uri))
    response = browser.submit_login(page, username, PASSWORDS[username])
    assert response.status_code == 303, response.text[:300]
    if urlsplit(response.headers["location"]).path == "/consent":
        approved = browser.submit_consent(browser.follow(response, "/consent"))
        redirect_params(approved, redirect_uri)
    return response


def approve_consent(browser: Browser, client_id: str, redirect_uri: str, scope: str = " ".join(SCOPES)) -> None:
    """With a signed-in browser, grant ``client_id`` the ``scope`` (ask for consent and approve it)."""
    pairs = authorize_pairs(client_id=client_id, redirect_uri=redirect_uri, scope=scope, prompt="consent")
    page = browser.follow(browser.authorize(pairs), "/consent")
    params = redirect_params(browser.submit_consent(page), redirect_uri)
    assert "code" in params, params


def token_request(
    http: httpx.Client,
    code: str,
    verifier: str,
    *,
    client_id: str | None = "spa",
    redirect_uri: str | None = SPA_CB,
    **extra: str,
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    if client_id is not None:
        data["client_id"] = client_id
    if redirect_uri is not None:
        data["redirect_uri"] = redirect_uri
    data.update(extra)
    return http.post("/token", data=data)
