"""``POST /token`` for the authorization-code grant: request syntax, client authentication, and the response
(issue 3 item 5; ARCHITECTURE §6.5 ``Cache-Control: no-store`` on every token-bearing response).

Spec: RFC 6749 §2.3, §2.3.1, §3.2, §3.2.1, §4.1.3, §4.1.4, §5.1, §5.2; RFC 6750 §4; OAuth 2.1 §2.4, §3.2.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from spec.support import SPA_CB, WEB_CB, WEB_SECRET, Browser, Pkce, assert_json_error, authorize_pairs, token_request

_CODE = {"grant_type": "authorization_code", "code": "bogus-code", "code_verifier": "v" * 43, "redirect_uri": SPA_CB}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


# Each case: httpx request keyword arguments, expected status, error, whether WWW-Authenticate: Basic is required.
ERRORS: list[Any] = [
    pytest.param({"json": {**_CODE, "client_id": "spa"}}, 400, "invalid_request", False, id="json-body[RFC6749-4.1.3]"),
    pytest.param(
        {"content": "grant_type=authorization_code&client_id=spa", "headers": {"Content-Type": "text/plain"}},
        400,
        "invalid_request",
        False,
        id="text-plain[RFC6749-4.1.3]",
    ),
    pytest.param(
        {"content": "grant_type=authorization_code&client_id=spa"},
        400,
        "invalid_request",
        False,
        id="no-content-type[RFC6749-4.1.3]",
    ),
    pytest.param(
        {"content": "grant_type=authorization_code&grant_type=authorization_code&client_id=spa&code=x"},
        400,
        "invalid_request",
        False,
        id="repeated-grant_type[RFC6749-3.2]",
    ),
    pytest.param(
        {"content": "grant_type=authorization_code&client_id=spa&code=a&code=b&code_verifier=" + "v" * 43},
        400,
        "invalid_request",
        False,
        id="repeated-code[RFC6749-3.2]",
    ),
    pytest.param(
        {"content": "grant_type=authorization_code&client_id=spa&client_id=spa&code=a&code_verifier=" + "v" * 43},
        400,
        "invalid_request",
        False,
        id="repeated-client_id[RFC6749-3.2]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "spa", "grant_type": "password"}},
        400,
        "unsupported_grant_type",
        False,
        id="grant-password[RFC6749-5.2]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "spa", "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}},
        400,
        "unsupported_grant_type",
        False,
        id="grant-unknown[RFC6749-5.2]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "spa", "grant_type": "implicit"}},
        400,
        "unsupported_grant_type",
        False,
        id="grant-implicit[RFC6749-5.2]",
    ),
    pytest.param(
        {"data": {k: v for k, v in {**_CODE, "client_id": "spa"}.items() if k != "grant_type"}},
        400,
        "invalid_request",
        False,
        id="missing-grant_type[RFC6749-4.1.3]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "spa", "grant_type": ""}},
        400,
        "invalid_request",
        False,
        id="empty-grant_type[RFC6749-3.2]",
    ),
    pytest.param(
        {"data": _CODE, "headers": _basic("web", "wrong-secret")},
        401,
        "invalid_client",
        True,
        id="basic-wrong-secret[RFC6749-5.2]",
    ),
    pytest.param(
        {"data": _CODE, "headers": _basic("nobody", WEB_SECRET)},
        401,
        "invalid_client",
        True,
        id="basic-unknown-client[RFC6749-5.2]",
    ),
    pytest.param(
        {"data": _CODE, "headers": _basic("spa", "anything")},
        401,
        "invalid_client",
        True,
        id="basic-public-client[RFC6749-2.3]",
    ),
    pytest.param(
        {"data": _CODE, "headers": {"Authorization": "Basic !!!not-base64!!!"}},
        401,
        "invalid_client",
        True,
        id="basic-malformed[RFC6749-2.3.1]",
    ),
    pytest.param(
        {"data": _CODE, "headers": {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}},
        401,
        "invalid_client",
        True,
        id="basic-no-colon[RFC6749-2.3.1]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "web", "client_secret": "wrong-secret"}},
        401,
        "invalid_client",
        False,
        id="post-wrong-secret[RFC6749-5.2]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "web", "client_secret": WEB_SECRET}, "headers": _basic("web", WEB_SECRET)},
        400,
        "invalid_request",
        False,
        id="basic-and-post[RFC6749-2.3]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "spa-b"}, "headers": _basic("web", WEB_SECRET)},
        400,
        "invalid_request",
        False,
        id="basic-and-other-client_id[RFC6749-2.3]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "spa", "client_secret": "some-secret"}},
        401,
        "invalid_client",
        False,
        id="public-client-with-secret[RFC6749-2.3]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "web"}},
        401,
        "invalid_client",
        False,
        id="confidential-no-secret[RFC6749-3.2.1]",
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "nobody"}}, 401, "invalid_client", False, id="unknown-client[RFC6749-5.2]"
    ),
    pytest.param(
        {"data": {**_CODE, "client_id": "disabled-app"}},
        401,
        "invalid_client",
        False,
        id="disabled-client[RFC6749-5.2]",
    ),
    pytest.param({"data": _CODE}, 401, "invalid_client", False, id="no-client[RFC6749-3.2.1]"),
    pytest.param(
        {"data": {**_CODE, "client_id": "cc-only", "client_secret": WEB_SECRET}},
        400,
        "unauthorized_client",
        False,
        id="grant-not-allowed[RFC6749-5.2]",
    ),
    pytest.param({"data": {**_CODE, "client_id": "spa"}}, 400, "invalid_grant", False, id="unknown-code[RFC6749-5.2]"),
]


@pytest.mark.parametrize(("request_kwargs", "status", "error", "basic_challenge"), ERRORS)
def test_token_errors(
    http: httpx.Client, request_kwargs: dict[str, Any], status: int, error: str, basic_challenge: bool
) -> None:
    """RFC 6749 §5.2: JSON ``error`` + ``error_description``, 400 (401 ``invalid_client``, with
    ``WWW-Authenticate`` when the client used the Authorization header), never cached (ARCHITECTURE §6.5)."""
    response = http.post("/token", **request_kwargs)
    assert_json_error(response, error, status)
    assert response.headers.get("pragma") == "no-cache"
    if basic_challenge:
        assert response.headers["www-authenticate"].lower().startswith("basic")
    assert "Traceback" not in response.text


def test_success_response(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §5.1: ``access_token``, ``token_type`` (Bearer, RFC 6750 §4), ``expires_in`` (a number),
    ``scope``, ``refresh_token`` for a client allowed to refresh; ``Cache-Control: no-store``, ``Pragma:
    no-cache``; JSON."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(challenge=proof.challenge, scope="properties:read tenants:read"))
    response = token_request(http, code, proof.verifier)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert type(body["expires_in"]) is int and 0 < body["expires_in"] <= 3600
    assert set(body["scope"].split(" ")) == {"properties:read", "tenants:read"}
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
    assert "id_token" not in body


def test_no_refresh_token_without_refresh_grant(alice: Browser, http: httpx.Client) -> None:
    """Issue 3 item 5: ``refresh_token`` only for clients allowed the refresh_token grant (RFC 6749 §5.1: OPTIONAL)."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id="spa-norefresh", challenge=proof.challenge))
    response = token_request(http, code, proof.verifier, client_id="spa-norefresh")
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_confidential_client_authenticates(alice: Browser, http: httpx.Client, method: str) -> None:
    """RFC 6749 §2.3.1: HTTP Basic and the form body are both accepted for a confidential client."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id="web", redirect_uri=WEB_CB, challenge=proof.challenge), WEB_CB)
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": proof.verifier, "redirect_uri": WEB_CB}
    if method == "client_secret_basic":
        response = http.post("/token", data=data, headers=_basic("web", WEB_SECRET))
    else:
        response = http.post("/token", data={**data, "client_id": "web", "client_secret": WEB_SECRET})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"


def test_empty_parameter_counts_as_omitted(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §3.2: a parameter without a value is treated as omitted: ``client_secret=`` from a public client
    is not an authentication attempt."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(challenge=proof.challenge))
    response = token_request(http, code, proof.verifier, client_secret="")
    assert response.status_code == 200, response.text


def test_get_is_not_allowed(http: httpx.Client) -> None:
    """RFC 6749 §3.2: the client MUST use POST; a GET (credentials in the URL) is refused."""
    response = http.get("/token", params={**_CODE, "client_id": "spa"})
    assert response.status_code == 405
