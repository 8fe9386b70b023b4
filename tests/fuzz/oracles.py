"""What the fuzzers hold every answer to, written from the RFCs and Pixie's documented surface — never from its
code, so a drift in Pixie shows up here.

Spec: RFC 6749 §4.1.2, §5.2; RFC 8252 §7.3; RFC 9700 §4.1.3; RFC 9110 §5.5.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fuzz.support import RawResponse

# The OAuth error codes registered for the endpoints Pixie serves: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
# RFC 7009 §2.2.1, OpenID Connect Core §3.1.2.6 for prompt=none, and RFC 8707 §2 for resource.
REGISTERED_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "invalid_token",
        "insufficient_scope",
        "unsupported_token_type",
        "interaction_required",
        "login_required",
        "consent_required",
        "request_not_supported",  # OpenID Connect Core §3.1.2.6
        "invalid_redirect_uri",  # RFC 7591 §3.2.2 (dynamic client registration)
        "invalid_client_metadata",
        "invalid_target",  # RFC 8707 §2 (resource indicators)
    }
)
_NQSCHAR = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §5.2 error_description
_URI_CHARS = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §5.2 error_uri


def check_error_object(body: Any) -> dict[str, Any]:
    """``body`` is an RFC 6749 §5.2 error object: a registered ``error``, an ``error_description`` (Pixie always
    sends one) in the allowed characters, nothing else but ``error_uri``."""
    assert isinstance(body, dict), body
    assert body.get("error") in REGISTERED_ERRORS, body
    description = body.get("error_description")
    assert isinstance(description, str) and _NQSCHAR.fullmatch(description), body
    if "error_uri" in body:
        assert isinstance(body["error_uri"], str) and _URI_CHARS.fullmatch(body["error_uri"]), body
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    return body


def check_json_error(status: int, headers: httpx.Headers, content: bytes) -> dict[str, Any]:
    """A JSON error response: 4xx/5xx, ``application/json``, ``Cache-Control: no-store``, a valid error object."""
    assert status >= 400, status
    assert headers.get("content-type", "").split(";")[0] == "application/json", headers
    assert headers.get("cache-control") == "no-store", headers
    return check_error_object(json.loads(content))


# Every header Pixie (or uvicorn) sets on an /authorize answer; anything else got in from the request.
KNOWN_HEADERS = frozenset(
    {
        "date",
        "server",
        "location",
        "set-cookie",
        "cache-control",
        "content-length",
        "content-type",
        "connection",
        "x-frame-options",
        "content-security-policy",
        "referrer-policy",
        "x-content-type-options",
        "pragma",
        "retry-after",
        "vary",
    }
)
_PIXIE_COOKIE = re.compile(
    r'((pixie-rq-[A-Za-z0-9_-]{1,64}|pixie-session)=([A-Za-z0-9_-]*|"")'
    r"|pixie-device-[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){3})(;|$)"  # user id, time, nonce, MAC
)
_ADDED = frozenset({"code", "state", "iss", "error", "error_description", "error_uri"})


def matches_registered(uri: str, registered: str) -> bool:
    """Our own oracle (independent of Pixie's matcher): ``uri`` is ``registered`` exactly, or differs only in the
    port of an http loopback IP literal registered without a port (RFC 8252 §7.3)."""
    if uri == registered:
        return True
    try:
        got, want = urlsplit(uri), urlsplit(registered)
    except ValueError:  # an unterminated IPv6 literal
        return False
    portless = not want.netloc.rpartition("]")[2].count(":")
    loopback = portless and want.scheme == "http" and want.hostname in ("127.0.0.1", "::1")
    if not loopback or (got.scheme, got.path, got.query, got.fragment) != (want.scheme, want.path, want.query, ""):
        return False
    host = f"[{want.hostname}]" if ":" in str(want.hostname) else str(want.hostname)
    port = re.fullmatch(re.escape(host) + r"(?::([0-9]{1,5}))?", got.netloc)
    return port is not None and int(port.group(1) or 80) <= 65535


def allowed_redirect(location: str, registered: str) -> bool:
    """``location`` is an accepted form of ``registered`` with only authorization-response parameters added."""
    want = urlsplit(registered)
    base, _, query = location.partition("?")
    if want.query:
        if not (query == want.query or query.startswith(want.query + "&")):
            return False
        base, query = f"{base}?{want.query}", query[len(want.query) + 1 :]
    added = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return matches_registered(base, registered) and set(added) <= _ADDED and len(added) == len(set(added))


def check_headers(response: RawResponse) -> None:
    for name, value in response.headers:
        assert name.lower() in KNOWN_HEADERS, f"unexpected header {name!r}: {value!r}"
        if name.lower() == "set-cookie":
            assert _PIXIE_COOKIE.match(value), f"unexpected cookie {value!r}"


# schemathesis' own checks: no 5xx, and status code, content type, headers and body as the document says.
BACK_CHANNEL_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def check_back_channel(case: schemathesis.Case, response: schemathesis.Response, *, basic_sent: bool) -> None:
    """A back-channel answer conforms to the document and to what the document cannot say: RFC error objects,
    ``no-store``, the Basic challenge."""
    case.validate_response(response, checks=BACK_CHANNEL_CHECKS)
    status = response.status_code
    headers = httpx.Headers([(name, value) for name, values in response.headers.items() for value in values])
    if status >= 400:
        check_json_error(status, headers, response.content)
    if status == 401 and basic_sent:
        assert headers.get("www-authenticate", "").startswith("Basic "), headers  # RFC 6749 §5.2
    if case.path in ("/token", "/revoke", "/introspect"):
        assert headers.get("cache-control") == "no-store", (status, headers)  # RFC 6749 §5.1, RFC 7662 §2.2
