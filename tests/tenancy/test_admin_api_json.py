"""The admin API's JSON bodies are bounded: a body nested deeper than Pixie reads (2,000 arrays, or an object
2,000 deep inside a field) is ``invalid_request`` (400, ``Cache-Control: no-store``), never a 500 from a
``RecursionError``; brackets inside strings do not count; NaN and Infinity are not JSON. On the real server.

Spec: RFC 8259 §9 (limits on nesting depth), §6 (numbers); RFC 6749 §5.2; ARCHITECTURE §6.8 (never a 500).
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from spec.support import assert_json_error

MAX_JSON_DEPTH = 32
"""The documented limit (:data:`pixie.server.json_input.MAX_JSON_DEPTH`), written out: the answer is the contract."""


def _post(http: httpx.Client, token: str, path: str, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return http.post("/admin/api" + path, content=body, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 2000 + b"]" * 2000,
        b'{"name": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2000 + b"}",
        b'{"name": "t", "settings": ' + b"[" * 60_000,  # unterminated too
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    ],
    ids=["arrays-2000", "object-in-a-field-2000", "arrays-60000-unterminated", "one-past-the-limit"],
)
def test_deep_nesting_is_invalid_request(http: httpx.Client, admin_token: str, body: bytes) -> None:
    response = _post(http, admin_token, "/tenants", body)
    error = assert_json_error(response, "invalid_request", 400)
    assert "nested too deeply" in error["error_description"], error


def test_nesting_at_the_limit_is_read(http: httpx.Client, admin_token: str) -> None:
    """As deep as allowed: parsed, then refused for what it is (not an object), not for its depth."""
    body = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    error = assert_json_error(_post(http, admin_token, "/tenants", body), "invalid_request", 400)
    assert error["error_description"] == "the body must be a JSON object"


def test_brackets_inside_strings_do_not_nest(http: httpx.Client, admin_token: str) -> None:
    name = f"brackets-{secrets.token_hex(3)}"
    body = b'{"name": "' + name.encode() + b'", "display_name": "[[[{{{\\"\\\\' + b"[" * 60 + b'"}'
    response = _post(http, admin_token, "/tenants", body)
    assert response.status_code == 201, response.text
    assert response.json()["display_name"] == '[[[{{{"\\' + "[" * 60


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(http: httpx.Client, admin_token: str, constant: bytes) -> None:
    body = b'{"name": "t-nan", "settings": {"refresh_grace_seconds": ' + constant + b"}}"
    error = assert_json_error(_post(http, admin_token, "/tenants", body), "invalid_request", 400)
    assert error["error_description"] == "the body is not valid JSON"


def test_not_utf8_is_invalid_request(http: httpx.Client, admin_token: str) -> None:
    body = '{"name": "t-ü"}'.encode("latin-1")
    assert_json_error(_post(http, admin_token, "/tenants", body), "invalid_request", 400)
