"""The sans-I/O protocol functions on their own: request building and small parsing rules that need no server
(issue 5, items 1, 2 and 4; STYLE item 4)."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from pixie.client import OAuthClient, ProtocolViolation, ServerMetadata, TokenSet
from pixie.client.discovery import check_url, discovery_request
from pixie.client.flows import ClientAuth, bearer_error, refresh_request, start_authorization

METADATA = ServerMetadata(
    issuer="https://as.example",
    authorization_endpoint="https://as.example/authorize?tenant=x",
    token_endpoint="https://as.example/token",
)


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("https://as.example", "https://as.example/.well-known/oauth-authorization-server"),
        ("https://as.example/", "https://as.example/.well-known/oauth-authorization-server"),
        ("https://as.example/t/acme", "https://as.example/.well-known/oauth-authorization-server/t/acme"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/.well-known/oauth-authorization-server"),
    ],
)
def test_discovery_url(issuer: str, url: str) -> None:
    """RFC 8414 §3.1: the well-known string goes between the host and the issuer's path."""
    request = discovery_request(issuer)
    assert (request.method, request.url) == ("GET", url)


@pytest.mark.parametrize("issuer", ["https://as.example?x=1", "https://as.example#f"])
def test_issuer_with_query_or_fragment_is_refused(issuer: str) -> None:
    """RFC 8414 §2."""
    with pytest.raises(ValueError, match="query or fragment"):
        discovery_request(issuer)


def test_cleartext_issuer_needs_a_loud_switch() -> None:
    """https, or http on loopback only (RFC 8252 §7.3), unless ``insecure_allow_http=True`` (STYLE item 10)."""
    with pytest.raises(ValueError, match="https"):
        OAuthClient("http://as.example", "app")
    assert check_url("http://as.example", "issuer", insecure_allow_http=True)
    assert check_url("http://[::1]:8000", "issuer")


def test_authorization_url() -> None:
    """RFC 6749 §4.1.1 with RFC 7636 §4.3: every parameter present; the endpoint's own query kept (§3.1)."""
    start = start_authorization(METADATA, "app", "http://127.0.0.1:5000/cb", "a b", extra_params=[("prompt", "login")])
    parts = urlsplit(start.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "as.example", "/authorize")
    assert parts.query.startswith("tenant=x&")
    params = dict(parse_qsl(parts.query))
    tx = start.transaction
    digest = hashlib.sha256(tx.code_verifier.encode()).digest()
    assert params == {
        "tenant": "x",
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": "http://127.0.0.1:5000/cb",
        "scope": "a b",
        "state": tx.state,
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "prompt": "login",
    }
    assert "%20" in parts.query and "+" not in parts.query  # a space in scope, percent-encoded
    assert (tx.issuer, tx.client_id, tx.scope, tx.consumed) == ("https://as.example", "app", "a b", False)
    assert "code_verifier" not in repr(tx) and tx.code_verifier not in repr(tx)


def test_fresh_state_and_verifier_every_time() -> None:
    """128-bit state (16 random bytes, 22 base64url characters) and a new verifier per request."""
    starts = [start_authorization(METADATA, "app", "http://127.0.0.1/cb") for _ in range(200)]
    states = {s.transaction.state for s in starts}
    verifiers = {s.transaction.code_verifier for s in starts}
    assert len(states) == len(verifiers) == 200
    assert all(len(state) == 22 for state in states)
    assert all(43 <= len(v) <= 128 for v in verifiers)


@pytest.mark.parametrize("name", ["state", "code_challenge", "redirect_uri", "code_challenge_method"])
def test_extra_params_cannot_override_the_protocol(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        start_authorization(METADATA, "app", "http://127.0.0.1/cb", extra_params=[(name, "x")])


def test_public_client_sends_its_id_in_the_body() -> None:
    """OAuth 2.1 §2.4: a public client identifies itself with ``client_id`` and nothing else."""
    request = refresh_request(METADATA, ClientAuth("app"), "rt", "a")
    assert "Authorization" not in request.headers
    assert request.body is not None
    assert dict(parse_qsl(request.body.decode())) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt",
        "scope": "a",
        "client_id": "app",
    }


def test_client_auth_rules() -> None:
    with pytest.raises(ValueError, match="needs a client secret"):
        ClientAuth("app", method="client_secret_basic")
    with pytest.raises(ValueError, match="public clients"):
        ClientAuth("app", "secret", method="none")
    assert "secret" not in repr(ClientAuth("app", "secret"))


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ('Bearer realm="api", error="invalid_token", error_description="expired"', "invalid_token"),
        ('bearer error="insufficient_scope", scope="a"', "insufficient_scope"),
        ('Bearer realm="api"', None),
        ('Basic realm="api"', None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_error(header: str | None, error: str | None) -> None:
    """RFC 6750 §3: the ``error`` attribute of a Bearer challenge (scheme case-insensitive)."""
    assert bearer_error(header) == error


def test_refresh_time_is_margin_before_expiry_but_not_before_half_life() -> None:
    long_lived = TokenSet("a", "Bearer", expires_at=1000.0, issued_at=100.0)
    assert long_lived.refresh_at(60) == 940.0
    short_lived = TokenSet("a", "Bearer", expires_at=110.0, issued_at=100.0)
    assert short_lived.refresh_at(60) == 105.0
    assert TokenSet("a", "Bearer", expires_at=None).refresh_at(60) is None
    assert TokenSet("a", "Bearer", expires_at=None).is_fresh(60)


def test_token_set_serialisation_and_printing() -> None:
    now = time.time()
    tokens = TokenSet("at", "Bearer", now + 100, "rt", "a", now, {"access_token": "old", "id_token": "x"})
    assert TokenSet.from_dict(tokens.to_dict()) == tokens
    response = tokens.as_response(now)
    assert response == {
        "access_token": "at",
        "token_type": "Bearer",
        "expires_in": 100,
        "refresh_token": "rt",
        "scope": "a",
        "id_token": "x",
    }
    assert "at" not in repr(tokens).replace("expires_at", "").replace("issued_at", "")
    with pytest.raises(ValueError, match="token set"):
        TokenSet.from_dict({"token_type": "Bearer"})


def test_protocol_violation_codes_are_a_closed_set() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ProtocolViolation("something_new", "x")


def test_transaction_belongs_to_its_client() -> None:
    start = start_authorization(METADATA, "app", "http://127.0.0.1/cb")
    with OAuthClient("https://as.example", "other-app") as client, pytest.raises(ValueError, match="another"):
        client.complete_authorization(start.transaction, "http://127.0.0.1/cb?code=x")
