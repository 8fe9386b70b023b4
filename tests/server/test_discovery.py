"""Discovery over real HTTP: RFC 8414 metadata, RFC 7517 JWKS, security headers."""

from __future__ import annotations

import httpx


def test_metadata_document(live_server: str) -> None:
    """RFC 8414 §2/§3: required members; issuer equals the URL it was fetched from; S256 only; RFC 9207 iss."""
    response = httpx.get(f"{live_server}/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["issuer"] == live_server
    for member in ("authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"):
        assert document[member].startswith(live_server + "/")
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert "plain" not in str(document)


def test_unknown_tenant_metadata_is_404_json(live_server: str) -> None:
    response = httpx.get(f"{live_server}/.well-known/oauth-authorization-server/t/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"


def test_jwks_publishes_active_and_next_public_keys(live_server: str) -> None:
    """RFC 7517 §5: current and next keys; kid is the RFC 7638 thumbprint; never a private member."""
    keys = httpx.get(f"{live_server}/jwks.json").json()["keys"]
    assert len(keys) == 2
    for jwk in keys:
        assert jwk["alg"] == "ES256" and jwk["use"] == "sig" and jwk["kty"] == "EC"
        assert "d" not in jwk
        assert len(jwk["kid"]) == 43
    assert len({jwk["kid"] for jwk in keys}) == 2


def test_security_headers_on_every_response(live_server: str) -> None:
    """ARCHITECTURE §6.5: X-Frame-Options DENY and CSP frame-ancestors 'none'."""
    for path in ("/.well-known/oauth-authorization-server", "/jwks.json", "/no-such-page"):
        response = httpx.get(live_server + path)
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
