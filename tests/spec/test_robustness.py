"""No 500 anywhere and no stack trace ever: garbage in, a clean 4xx out (issue 3 "Done when"; ARCHITECTURE §6.8).

Spec: RFC 6749 §4.1.2.1 and §5.2 (errors are ``invalid_request`` & co., never a fault); RFC 9700 §4.11.2 (a bad
redirect URI is never followed, however it is malformed).
"""

from __future__ import annotations

import base64
import gc
import time
import warnings
from typing import Any

import pytest

from spec.support import SPA_CB, Pixie, authorize_pairs

LONG = "A" * 20_000
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# (method, path, httpx request kwargs)
CASES: list[Any] = [
    # /authorize
    pytest.param("GET", "/authorize", {}, id="authorize-no-params"),
    pytest.param("GET", "/authorize?client_id=%FF%FE&redirect_uri=%C0%AF", {}, id="authorize-non-utf8"),
    pytest.param("GET", "/authorize?client_id=spa&redirect_uri=" + "%FF" * 10, {}, id="authorize-non-utf8-uri"),
    pytest.param("GET", "/authorize?%00=%00&client_id=%00", {}, id="authorize-nul"),
    pytest.param("GET", "/authorize", {"params": {"client_id": LONG}}, id="authorize-long-client_id"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(redirect_uri=SPA_CB + LONG)}, id="authorize-long-uri"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(state=LONG)}, id="authorize-long-state"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(scope=LONG)}, id="authorize-long-scope"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(prompt=LONG)}, id="authorize-long-prompt"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(code_challenge=LONG)}, id="authorize-long-challenge"),
    pytest.param(
        "GET", "/authorize", {"params": authorize_pairs(state="\x00\x01\n\r\t")}, id="authorize-control-state"
    ),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(state="é☃\U0001f600")}, id="authorize-unicode-state"),
    pytest.param(
        "GET",
        "/authorize",
        {"params": authorize_pairs(scope="properties:read\x00")},
        id="authorize-nul-scope",
    ),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(scope="\u2603")}, id="authorize-unicode-scope"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(client_id="", redirect_uri="")}, id="authorize-empty"),
    pytest.param("GET", "/authorize", {"params": [("client_id", "spa")] * 500}, id="authorize-500-repeats"),
    pytest.param(
        "GET",
        "/authorize",
        {"params": authorize_pairs(redirect_uri="http://[::1/cb")},
        id="authorize-bad-ipv6",
    ),
    pytest.param(
        "GET",
        "/authorize",
        {"params": authorize_pairs(redirect_uri="http://[zz]/cb")},
        id="authorize-bad-ip-literal",
    ),
    pytest.param(
        "GET",
        "/authorize",
        {"params": authorize_pairs(redirect_uri="http://127.0.0.1:99999/cb")},
        id="authorize-bad-port",
    ),
    pytest.param(
        "GET",
        "/authorize",
        {"params": authorize_pairs(redirect_uri="http://127.0.0.1:abc/cb")},
        id="authorize-text-port",
    ),
    pytest.param(
        "GET", "/authorize", {"params": authorize_pairs(redirect_uri="http://")}, id="authorize-empty-authority"
    ),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(redirect_uri=":")}, id="authorize-colon-uri"),
    pytest.param("POST", "/authorize", {"data": dict(authorize_pairs())}, id="authorize-post"),
    pytest.param("PUT", "/authorize", {}, id="authorize-put"),
    pytest.param("DELETE", "/authorize", {}, id="authorize-delete"),
    pytest.param("TRACE", "/authorize", {}, id="authorize-trace"),
    pytest.param("PATCH", "/token", {}, id="token-patch"),
    # /login and /consent
    pytest.param("GET", "/login", {}, id="login-no-request"),
    pytest.param("GET", "/login", {"params": {"request": LONG}}, id="login-long-request"),
    pytest.param("GET", "/login?request=%FF%00", {}, id="login-non-utf8"),
    pytest.param("POST", "/login", {}, id="login-empty-body"),
    pytest.param(
        "POST",
        "/login",
        {"content": b"request=%FF&csrf_token=%FE&username=%00", "headers": FORM},
        id="login-non-utf8-body",
    ),
    pytest.param("POST", "/login", {"content": b"\xff\xfe\x00garbage", "headers": FORM}, id="login-binary-body"),
    pytest.param(
        "POST",
        "/login",
        {"data": {"request": LONG, "csrf_token": LONG, "username": LONG, "password": LONG}},
        id="login-long-fields",
    ),
    pytest.param("POST", "/login", {"json": {"request": "x"}}, id="login-json"),
    pytest.param(
        "POST",
        "/login",
        {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
        id="login-broken-multipart",
    ),
    pytest.param("POST", "/login", {"data": {"request": "x"}, "files": {}}, id="login-multipart-no-file"),
    pytest.param("POST", "/consent", {}, id="consent-empty-body"),
    pytest.param(
        "POST", "/consent", {"data": {"request": "x", "csrf_token": "y", "decision": LONG}}, id="consent-garbage"
    ),
    pytest.param("POST", "/consent", {"content": b"\xff\xfe\x00", "headers": FORM}, id="consent-binary-body"),
    pytest.param("GET", "/consent?request=%FF", {}, id="consent-non-utf8"),
    pytest.param("PUT", "/consent", {}, id="consent-put"),
    pytest.param("POST", "/logout", {"headers": {"Origin": b"\xff\xfe"}}, id="logout-odd-origin"),
    pytest.param("POST", "/logout", {"headers": {"Cookie": "pixie-session=" + "x" * 4000}}, id="logout-long-cookie"),
    # /token
    pytest.param("POST", "/token", {}, id="token-empty"),
    pytest.param("POST", "/token", {"content": b"\xff\xfe\x00", "headers": FORM}, id="token-binary-body"),
    pytest.param(
        "POST", "/token", {"content": b"grant_type=%FF%FE&client_id=%C0", "headers": FORM}, id="token-non-utf8"
    ),
    pytest.param("POST", "/token", {"content": b"a" * 70_000, "headers": FORM}, id="token-huge-body"),
    pytest.param(
        "POST", "/token", {"content": "&".join(f"p{i}=1" for i in range(500)), "headers": FORM}, id="token-many-fields"
    ),
    pytest.param("POST", "/token", {"content": b"=&&==&%", "headers": FORM}, id="token-malformed-pairs"),
    pytest.param(
        "POST", "/token", {"data": {"grant_type": "authorization_code", "client_id": LONG}}, id="token-long-client"
    ),
    pytest.param(
        "POST",
        "/token",
        {"data": {"grant_type": "authorization_code", "client_id": "spa", "code": LONG, "code_verifier": LONG}},
        id="token-long-code",
    ),
    pytest.param(
        "POST",
        "/token",
        {"data": {"grant_type": "authorization_code", "client_id": "spa", "code": "x", "code_verifier": "é" * 50}},
        id="token-unicode-verifier",
    ),
    pytest.param("POST", "/token", {"data": {"grant_type": LONG, "client_id": "spa"}}, id="token-long-grant"),
    pytest.param("POST", "/token", {"data": {"grant_type": "\u2603", "client_id": "spa"}}, id="token-unicode-grant"),
    pytest.param(
        "POST",
        "/token",
        {"data": {"grant_type": "a"}, "headers": {"Authorization": "Basic " + "A" * 5000}},
        id="token-long-basic",
    ),
    pytest.param(
        "POST",
        "/token",
        {
            "data": {"grant_type": "a"},
            "headers": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
        },
        id="token-basic-non-utf8",
    ),
    pytest.param(
        "POST",
        "/token",
        {"data": {"grant_type": "a"}, "headers": {"Authorization": "Basic " + base64.b64encode(b"%zz:%zz").decode()}},
        id="token-basic-bad-escapes",
    ),
    pytest.param(
        "POST", "/token", {"data": {"grant_type": "a"}, "headers": {"Authorization": "Basic"}}, id="token-basic-empty"
    ),
    pytest.param(
        "POST", "/token", {"data": {"grant_type": "a"}, "headers": {"Authorization": "Bearer x"}}, id="token-bearer"
    ),
    pytest.param(
        "POST",
        "/token",
        {"content": b"grant_type=x", "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"}},
        id="token-latin1-charset",
    ),
    # other tenants and paths
    pytest.param("GET", "/t/%FF/authorize", {}, id="tenant-non-utf8"),
    pytest.param("GET", "/t/" + "a" * 5000 + "/jwks.json", {}, id="tenant-long"),
    pytest.param("POST", "/t/nope/token", {"data": {"grant_type": "authorization_code"}}, id="tenant-unknown-token"),
    pytest.param("GET", "/t/nope/authorize", {"params": authorize_pairs()}, id="tenant-unknown-authorize"),
    pytest.param("GET", "/.well-known/oauth-authorization-server/t/%00", {}, id="metadata-nul-tenant"),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), CASES)
def test_no_server_error(pixie: Pixie, method: str, path: str, kwargs: dict[str, Any]) -> None:
    """Issue 3: no 500 anywhere; ARCHITECTURE §6.8: no stack trace or internal detail in any response; a bad
    redirect URI is never followed (RFC 9700 §4.11.2)."""
    with pixie.client() as http:
        response = http.request(method, path, **kwargs)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    text = response.text
    for leak in ("Traceback", 'File "/', "sqlalchemy", "sqlite3", "ValueError", "Exception"):
        assert leak not in text, leak
    location = response.headers.get("location", "")
    assert not location or location.startswith(("/", "http://127.0.0.1:9999/cb")), location


@pytest.mark.parametrize("path", ["/login", "/consent"])
def test_form_file_parts_are_not_leaked(pixie: Pixie, path: str) -> None:
    """Issue 3 (no 500, no fault) / ARCHITECTURE §6.8: a multipart body with file parts must not leave open temporary
    files behind (refused, or closed after the request)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pixie.client() as http:
            response = http.post(path, data={"request": "x"}, files={"upload": ("a.txt", b"x" * 100)})
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and not caught:
            gc.collect()
            time.sleep(0.02)
    assert response.status_code < 500
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]
