"""Authorization-server metadata advertises exactly what is implemented (issue 3 item 7).

Spec: RFC 8414 §2, §3, §3.3; RFC 9207 §3; RFC 7636 §4.3 (S256 only, RFC 9700 §2.1.1).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spec.support import SPA_CB, WEB_SECRET, Pixie

_KNOWN_GRANTS = ("authorization_code", "refresh_token", "client_credentials", "password", "implicit")


@pytest.fixture(scope="module")
def metadata(pixie: Pixie) -> dict[str, Any]:
    with pixie.client() as http:
        response = http.get("/.well-known/oauth-authorization-server")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        document: dict[str, Any] = response.json()
        return document


def test_issuer_and_endpoints(pixie: Pixie, metadata: dict[str, Any]) -> None:
    """RFC 8414 §3.3: ``issuer`` equals the issuer the document was fetched for; endpoints live under it."""
    assert metadata["issuer"] == pixie.issuer
    assert metadata["authorization_endpoint"] == pixie.issuer + "/authorize"
    assert metadata["token_endpoint"] == pixie.issuer + "/token"
    assert metadata["jwks_uri"] == pixie.issuer + "/jwks.json"


def test_pkce_and_iss_advertised(metadata: dict[str, Any]) -> None:
    """RFC 7636 §4.3 + RFC 9700 §2.1.1: ``code_challenge_methods_supported`` is exactly ``["S256"]``; RFC 9207 §3:
    ``authorization_response_iss_parameter_supported`` is true; only ``response_type=code``."""
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["response_types_supported"] == ["code"]
    assert "token" not in metadata.get("response_types_supported", [])
    assert set(metadata["token_endpoint_auth_methods_supported"]) <= {
        "none",
        "client_secret_basic",
        "client_secret_post",
    }


ENDPOINTS = [
    pytest.param("authorization_endpoint", "GET", id="authorization_endpoint"),
    pytest.param("token_endpoint", "POST", id="token_endpoint"),
    pytest.param("jwks_uri", "GET", id="jwks_uri"),
    pytest.param("revocation_endpoint", "POST", id="revocation_endpoint"),
    pytest.param("introspection_endpoint", "POST", id="introspection_endpoint"),
]


@pytest.mark.parametrize(("member", "method"), ENDPOINTS)
def test_advertised_endpoints_exist(http: httpx.Client, metadata: dict[str, Any], member: str, method: str) -> None:
    """RFC 8414 §2: every advertised endpoint exists (neither 404 nor 405) — nothing is advertised that is not
    implemented. Members that are not advertised are not checked."""
    if member not in metadata:
        return
    response = http.request(method, metadata[member])
    assert response.status_code not in (404, 405), (member, response.status_code)


@pytest.mark.parametrize("grant_type", _KNOWN_GRANTS)
def test_grant_types_match_token_endpoint(http: httpx.Client, metadata: dict[str, Any], grant_type: str) -> None:
    """RFC 8414 §2 ``grant_types_supported``: a grant is advertised iff ``/token`` does not answer it with
    ``unsupported_grant_type`` (RFC 6749 §5.2)."""
    data = {"grant_type": grant_type, "client_id": "web", "client_secret": WEB_SECRET, "redirect_uri": SPA_CB}
    response = http.post("/token", data=data)
    unsupported = response.status_code == 400 and response.json().get("error") == "unsupported_grant_type"
    assert (grant_type in metadata["grant_types_supported"]) == (not unsupported), response.text
