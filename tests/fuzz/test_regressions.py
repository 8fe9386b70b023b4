"""Regression tests for what the fuzzers found, one per fix, each on the real server.

1. ``/authorize`` decoded its query leniently: a ``state`` that was not UTF-8 (``%ff``, a percent-encoded surrogate,
   a cut sequence) came back to the client as U+FFFD — not "the exact value received" (RFC 6749 §4.1.2). Now the
   query is decoded strictly and such a request is shown on Pixie's error page, never redirected.
2. A login or consent form sent as multipart with ``charset=utf-7`` can carry a lone surrogate (``+2AA-``), which no
   UTF-8 encoder accepts: the rate limiter's key hashing raised ``UnicodeEncodeError`` — a 500. Now refused (400).
3. A login or consent form that Starlette refuses to parse (a file part, more than 20 fields, multipart without a
   boundary) answered a bare ``text/plain`` 400, and a field with NUL answered a JSON error object: a browser got
   no page. Both are now Pixie's HTML error page.
4. Starlette's slash redirect answered ``/authorize/?…`` (and ``/t/x?…``) with a 307 to the origin named by the
   request's ``Host`` header, query and all — a redirect to neither a registered URI nor Pixie's own pages (found
   by the soak run: a tenant name holding a raw ``?``). Now 404.
"""

from __future__ import annotations

import httpx
import pytest

from fuzz.support import FuzzServer, Pending, raw_get, raw_request
from spec.support import PASSWORDS, SPA_CB, Pkce


def _authorize_target(state: str) -> str:
    challenge = Pkce.new().challenge
    return (
        f"/authorize?client_id=spa&redirect_uri={SPA_CB}&response_type=code&code_challenge={challenge}"
        f"&code_challenge_method=S256&state={state}"
    )


@pytest.mark.parametrize("state", ["%ff", "%ED%A0%80", "%c3", "ok%c3%28", "%F0%9F%98"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_a_state_that_is_not_utf8_is_refused_not_altered(fuzz_server: FuzzServer, state: str, signed_in: bool) -> None:
    """RFC 6749 §4.1.2: ``state`` goes back exactly as received; bytes that are not UTF-8 cannot be, so the request
    ends on our error page (RFC 6749 §4.1.2.1: not redirected)."""
    headers = {"Cookie": f"pixie-session={fuzz_server.alice_cookie}"} if signed_in else None
    response = raw_get(fuzz_server.base, _authorize_target(state), headers)
    assert response.status == 400, (response.status, response.header("location"))
    assert response.header("location") is None
    assert (response.header("content-type") or "").startswith("text/html")
    assert b"not valid UTF-8" in response.body


def test_a_valid_utf8_state_still_round_trips(fuzz_server: FuzzServer) -> None:
    """The strict decoding keeps every valid value intact, including ``+`` as a space and non-ASCII text."""
    response = raw_get(
        fuzz_server.base,
        _authorize_target("a+b%2Bc%C3%A9%E2%80%AE"),
        {"Cookie": f"pixie-session={fuzz_server.alice_cookie}"},
    )
    assert response.status == 303
    location = httpx.URL(response.header("location") or "")
    assert location.params["state"] == "a b+cé\u202e"
    assert "code" in location.params


def _multipart(fields: dict[str, bytes], *, charset: str = "utf-8", extra: bytes = b"") -> tuple[bytes, str]:
    boundary = "regressionBoundary42"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in fields.items()
    )
    return body + extra + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}; charset={charset}"


def _post(server: FuzzServer, path: str, pending: Pending, body: bytes, content_type: str) -> httpx.Response:
    cookies = {f"pixie-rq-{pending.request_id}": pending.csrf}
    if path == "/consent":
        cookies["pixie-session"] = server.alice_cookie
    with httpx.Client(base_url=server.base, cookies=cookies, timeout=30) as http:
        return http.post(path, content=body, headers={"content-type": content_type})


def _assert_error_page(response: httpx.Response, text: str) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    assert text in response.text, response.text[:500]


@pytest.mark.parametrize("path", ["/login", "/consent"])
def test_a_lone_surrogate_in_a_form_is_refused_not_a_500(fuzz_server: FuzzServer, path: str) -> None:
    pending = fuzz_server.start_request(signed_in=path == "/consent")
    fields = {
        "request": pending.request_id.encode(),
        "csrf_token": pending.csrf.encode(),
        "username": b"alice+2AA-",  # UTF-7 for "alice\ud800"
        "password": PASSWORDS["alice"].encode(),
        "decision": b"approve+2AA-",
    }
    body, content_type = _multipart(fields, charset="utf-7")
    _assert_error_page(_post(fuzz_server, path, pending, body, content_type), "must be Unicode text")


@pytest.mark.parametrize("path", ["/login", "/consent"])
@pytest.mark.parametrize("kind", ["file part", "too many fields", "no boundary", "NUL"])
def test_an_unreadable_form_gets_the_error_page(fuzz_server: FuzzServer, path: str, kind: str) -> None:
    pending = fuzz_server.start_request(signed_in=path == "/consent")
    fields = {"request": pending.request_id.encode(), "csrf_token": pending.csrf.encode(), "decision": b"deny"}
    if kind == "file part":
        file_part = b'--regressionBoundary42\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\nx\r\n'
        body, content_type = _multipart(fields, extra=file_part)
    elif kind == "too many fields":
        body = "&".join([f"{k}={v.decode()}" for k, v in fields.items()] + [f"x{i}=1" for i in range(30)]).encode()
        content_type = "application/x-www-form-urlencoded"
    elif kind == "no boundary":
        body, content_type = b"request=x", "multipart/form-data"
    else:
        body = "&".join(f"{k}={v.decode()}" for k, v in fields.items()).encode() + b"&username=a%00b"
        content_type = "application/x-www-form-urlencoded"
    response = _post(fuzz_server, path, pending, body, content_type)
    _assert_error_page(response, "NUL" if kind == "NUL" else "malformed body")


@pytest.mark.parametrize("target", ["/authorize/?client_id=spa&state=s", "/t/acme?x=1", "/token/", "/jwks.json/"])
def test_no_slash_redirect_to_the_host_header(fuzz_server: FuzzServer, target: str) -> None:
    """RFC 9700 §4.11 (open redirection): Pixie redirects only where it decided to, never to a Host header."""
    request = f"GET {target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode()
    response = raw_request(fuzz_server.base, request)
    assert response.status == 404, (response.status, response.header("location"))
    assert response.header("location") is None
