"""CORS only where a browser app fetches (token endpoint, JWKS, metadata), only for origins of registered redirect
URIs, never on ``/authorize`` or the pages (issue 3 item 8).

Spec: Fetch Standard §3.2 (CORS protocol); OAuth 2.0 for Browser-Based Apps (draft-ietf-oauth-browser-based-apps:
the SPA calls the token endpoint cross-origin); ARCHITECTURE §5 (``/authorize`` is navigated to, never fetched).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spec.support import SPA_CB, Browser, Pixie, Pkce, authorize_pairs

SPA_ORIGIN = "http://127.0.0.1:9999"
WEB_ORIGIN = "https://app.example"
IPV6_ORIGIN = "http://[::1]"  # native6 registered http://[::1]/cb

_TOKEN_ERROR = {
    "grant_type": "authorization_code",
    "client_id": "spa",
    "code": "x",
    "code_verifier": "v" * 43,
    "redirect_uri": SPA_CB,
}

# (method, path, request kwargs); the token endpoint's success is checked below (it needs a fresh code).
CORS_ENDPOINTS = [
    pytest.param("GET", "/jwks.json", {}, id="jwks"),
    pytest.param("GET", "/.well-known/oauth-authorization-server", {}, id="metadata"),
]
TOKEN_ERROR = pytest.param("POST", "/token", {"data": _TOKEN_ERROR}, id="token-error")


@pytest.mark.parametrize("origin", [SPA_ORIGIN, WEB_ORIGIN, IPV6_ORIGIN])
@pytest.mark.parametrize(("method", "path", "kwargs"), CORS_ENDPOINTS)
def test_allowed_origin(http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], origin: str) -> None:
    """Fetch §3.2.3: an origin of a registered redirect URI gets ``Access-Control-Allow-Origin`` = itself (never
    ``*``), no credentials, ``Vary: Origin``."""
    response = http.request(method, path, headers={"Origin": origin}, **kwargs)
    assert response.headers.get("access-control-allow-origin") == origin
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in response.headers.get("vary", "").lower()


UNKNOWN_ORIGINS = [
    "https://evil.example",
    "http://127.0.0.1:9998",
    "https://127.0.0.1:9999",
    "http://127.0.0.1:9999.evil.example",
    "https://app.example.evil.example",
    "http://app.example",
    "null",
    "*",
]


@pytest.mark.parametrize("origin", UNKNOWN_ORIGINS)
@pytest.mark.parametrize(("method", "path", "kwargs"), [*CORS_ENDPOINTS, TOKEN_ERROR])
def test_unknown_origin(http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], origin: str) -> None:
    """Fetch §3.2.3: any other origin gets no ``Access-Control-Allow-Origin`` at all."""
    response = http.request(method, path, headers={"Origin": origin}, **kwargs)
    assert "access-control-allow-origin" not in response.headers


def test_token_success_has_cors(alice: Browser, http: httpx.Client) -> None:
    """OAuth 2.0 for Browser-Based Apps: a successful code exchange from the SPA's origin is readable by it."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(challenge=proof.challenge))
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "spa",
            "code": code,
            "code_verifier": proof.verifier,
            "redirect_uri": SPA_CB,
        },
        headers={"Origin": SPA_ORIGIN},
    )
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") == SPA_ORIGIN
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in response.headers.get("vary", "").lower()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(_TOKEN_ERROR, "invalid_grant", id="invalid_grant"),
        pytest.param({**_TOKEN_ERROR, "client_id": "nobody"}, "invalid_client", id="invalid_client"),
        pytest.param({**_TOKEN_ERROR, "grant_type": "password"}, "unsupported_grant_type", id="unsupported_grant_type"),
    ],
)
def test_token_error_has_cors(http: httpx.Client, data: dict[str, str], error: str) -> None:
    """Fetch §3.2.3 + RFC 6749 §5.2: a token *error* must be readable by the SPA too (it has to tell
    ``invalid_grant`` from a network failure)."""
    response = http.post("/token", data=data, headers={"Origin": SPA_ORIGIN})
    assert response.json()["error"] == error
    assert response.headers.get("access-control-allow-origin") == SPA_ORIGIN


@pytest.mark.parametrize("path", ["/token", "/jwks.json", "/.well-known/oauth-authorization-server"])
def test_preflight_allowed_origin(http: httpx.Client, path: str) -> None:
    """Fetch §3.2.2: a preflight from an allowed origin succeeds and allows the method and the headers a token
    request needs (Content-Type; Authorization for Basic)."""
    method = "POST" if path == "/token" else "GET"
    response = http.options(
        path,
        headers={
            "Origin": SPA_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert 200 <= response.status_code < 300
    assert response.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert method in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_preflight_unknown_origin(http: httpx.Client) -> None:
    """Fetch §3.2.2: a preflight from an unknown origin gets no CORS headers, so the browser blocks the request."""
    response = http.options(
        "/token", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


NEVER_CORS = [
    pytest.param("GET", "/authorize", {"params": authorize_pairs()}, id="authorize-valid"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(response_type="token")}, id="authorize-error"),
    pytest.param("GET", "/authorize", {"params": authorize_pairs(client_id="nobody")}, id="authorize-untrusted"),
    pytest.param("OPTIONS", "/authorize", {}, id="authorize-preflight"),
    pytest.param("GET", "/login", {"params": {"request": "x"}}, id="login"),
    pytest.param("POST", "/login", {"data": {"request": "x"}}, id="login-post"),
    pytest.param("GET", "/consent", {"params": {"request": "x"}}, id="consent"),
    pytest.param("POST", "/logout", {}, id="logout"),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), NEVER_CORS)
def test_no_cors_on_authorize_and_pages(pixie: Pixie, method: str, path: str, kwargs: dict[str, Any]) -> None:
    """Issue 3 item 8: ``/authorize`` and the HTML pages never carry CORS headers, even for an allowed origin."""
    with pixie.client() as http:
        response = http.request(
            method, path, headers={"Origin": SPA_ORIGIN, "Access-Control-Request-Method": "GET"}, **kwargs
        )
    assert response.status_code < 500
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]
