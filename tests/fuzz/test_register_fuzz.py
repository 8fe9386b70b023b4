"""Hostile dynamic client registrations (``POST /register``, RFC 7591) against a real server with open
registration, and RFC 7592 reads with hostile tokens.

Each request starts from valid metadata; any field is kept, dropped, or replaced by a hostile JSON value (markup,
injections, odd Unicode, long strings, numbers, ``null``, nested or long arrays, objects), stray fields are added,
and some bodies are not JSON at all, nest too deep, or come with another content type. Whatever arrives, the answer:

* is never a 5xx (the package also asserts that no 5xx was ever sent);
* is ``201`` with a public client whose every redirect URI is https, loopback http or ``http://localhost:PORT``
  without a fragment, and
  whose ``client_id`` is Pixie's own (never the one sent), or an RFC 6749 §5.2 error object (``invalid_redirect_uri``
  or ``invalid_client_metadata`` for metadata, 413 past the size bound) with ``Cache-Control: no-store``;
* never stores a client the answer did not report.

Spec: RFC 7591 §2, §3.2.1, §3.2.2, §5; RFC 7592 §2.1; RFC 6749 §5.2.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.hostile import INJECTIONS, MARKUP, UNICODE
from fuzz.oracles import check_json_error
from fuzz.support import TALLY, Tallied, examples, refused_head
from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import RateLimits, Settings
from pixie.management import ensure_default_tenant, update_tenant_settings
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

MASTER_KEY = b"fuzz-register-master-key-32bytes"
VALID: dict[str, Any] = {
    "redirect_uris": ["http://127.0.0.1:9999/cb", "https://app.example/cb"],
    "client_name": "Fuzzed",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
    "scope": "notes:read openid",
    "logo_uri": "https://app.example/logo.png",
    "dpop_bound_access_tokens": False,
}
FIELDS = sorted([*VALID, "client_id", "client_secret", "jwks", "contacts", "software_id"])


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await update_tenant_settings(storage, "default", {"registration": "open", "registration_scopes": "notes:read"})


@pytest.fixture(scope="module")
def register_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db_path = tmp_path_factory.mktemp("fuzz-register") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    run_coroutine(_seed(database_url))
    port = free_port()
    settings_ = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        rate_limits=RateLimits(register_per_ip=""),  # off: hostile bodies must reach the validation
    )
    with serve_pixie(settings_, wrap=Tallied) as base:
        yield base, db_path


_STRINGS = st.one_of(
    st.sampled_from(INJECTIONS + MARKUP + UNICODE),
    st.text(max_size=40),
    st.sampled_from(["https://app.example/cb#x", "http://app.example/cb", "javascript:alert(1)", "//evil.example"]),
    st.sampled_from(["http://localhost/cb", "https://[::1/cb", "https://app.example:99999/cb", "data:,x", "none"]),
    st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "é", "<", "%"]), st.integers(1, 20_000)),
)
_NUMBERS = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
_SCALARS = st.one_of(_STRINGS, st.none(), st.booleans(), _NUMBERS)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def registrations(draw: st.DrawFn) -> dict[str, Any]:
    body = dict(VALID)
    for name in draw(st.sets(st.sampled_from(FIELDS), max_size=3)):
        how = draw(st.sampled_from(["drop", "hostile", "hostile-list", "long-list"]))
        if how == "drop":
            body.pop(name, None)
        elif how == "hostile":
            body[name] = draw(_JSON)
        elif how == "hostile-list":
            body[name] = draw(st.lists(_STRINGS, min_size=1, max_size=4))
        else:
            body[name] = [VALID["redirect_uris"][0]] * draw(st.integers(5, 300))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 10]))):
        body[draw(st.text(max_size=20))] = draw(_JSON)
    return body


def _check(response: httpx.Response, sent: dict[str, Any] | None) -> dict[str, Any]:
    assert response.status_code < 500, response.text[:300]
    if response.status_code != 201:
        error = check_json_error(response.status_code, response.headers, response.content)
        if response.status_code == 400:
            assert error["error"] in {"invalid_redirect_uri", "invalid_client_metadata"}, error
        return error
    assert response.headers["cache-control"] == "no-store"
    info: dict[str, Any] = response.json()
    assert info["token_endpoint_auth_method"] == "none" and "client_secret" not in info, info
    if sent is not None:
        assert info["client_id"] != sent.get("client_id"), info
    for uri in info["redirect_uris"]:
        parts = urlsplit(uri)
        assert "#" not in uri and parts.scheme in ("https", "http"), uri
        assert (
            parts.scheme == "https"
            or parts.hostname in ("127.0.0.1", "::1")
            or (
                parts.hostname == "localhost" and parts.port  # a public client's development server, port included
            )
        ), uri
    assert set(info["grant_types"]) <= {"authorization_code", "refresh_token"}, info
    return info


def _stored(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        count: int = db.execute("SELECT COUNT(*) FROM clients").fetchone()[0]
        return count


@settings(max_examples=examples(150), deadline=None, suppress_health_check=list(HealthCheck))
@given(body=registrations())
def test_hostile_metadata(register_server: tuple[str, Path], body: dict[str, Any]) -> None:
    base, db_path = register_server
    TALLY.examples["register metadata"] += 1
    before = _stored(db_path)
    response = httpx.post(f"{base}/register", json=body, timeout=30)
    _check(response, body)
    assert _stored(db_path) == before + (1 if response.status_code == 201 else 0)


_RAW = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"null", b"[]", b"42", b'"x"', b"{", b'{"redirect_uris": [', b"\xff\xfe{}", b"{}" * 1000]),
    st.integers(1, 2000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 2000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.just(b'{"redirect_uris": ["' + b"a" * 70_000 + b'"]}'),
)


@settings(max_examples=examples(80), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=_RAW,
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "", "x/y"]),
)
def test_hostile_bodies(register_server: tuple[str, Path], raw: bytes, content_type: str) -> None:
    base, _ = register_server
    TALLY.examples["register body"] += 1
    headers = {"content-type": content_type} if content_type else {}
    _check(httpx.post(f"{base}/register", content=raw, headers=headers, timeout=30), None)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=list(HealthCheck))
@given(client_id=_STRINGS.filter(lambda s: s not in ("", ".", "..")), token=_STRINGS)
def test_hostile_registration_reads(register_server: tuple[str, Path], client_id: str, token: str) -> None:
    """RFC 7592 §2.1: whatever the client id and token, never another client's information: 401 or 404."""
    base, _ = register_server
    TALLY.examples["register read"] += 1
    try:
        response = httpx.get(
            f"{base}/register/{quote(client_id, safe='')}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
        return  # a URL past httpx's length bound, or a header value HTTP cannot carry: not sendable
    if response.status_code == 400 and response.text == "Invalid HTTP request received.":
        return  # refused by the HTTP server (a control character in the header) before Pixie saw it
    if refused_head(response.status_code, response.headers.get("content-type")):
        return  # a head past the server's bounds, refused before Pixie saw it
    assert response.status_code in (401, 404), response.text[:200]
    if response.status_code == 401:
        check_json_error(response.status_code, response.headers, response.content)
        assert json.loads(response.content)["error"] == "invalid_token"
