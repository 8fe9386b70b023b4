"""Dynamic client registration over real HTTP: RFC 7591 registration under each policy, its errors, RFC 7592 read
and delete, discovery, and a registered client completing the code flow.

Spec: RFC 7591 §2, §3.1, §3.2.1, §3.2.2, §5; RFC 7592 §2.1, §2.3; RFC 8414 §2 (``registration_endpoint``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from interop.interop_support import browse_to_callback
from pixie.config import RateLimits

from .conftest import PASSWORD, Server, start

CB = "http://127.0.0.1:8765/callback"


def _register(server: Server, metadata: Any, *, tenant: str = "", token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    prefix = f"/t/{tenant}" if tenant else ""
    return httpx.post(f"{server.base}{prefix}/register", json=metadata, headers=headers)


def _refused(response: httpx.Response, error: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    return body


def test_open_registration_issues_a_public_client(server: Server) -> None:
    """RFC 7591 §3.2.1: 201 with the client information, a fresh client_id and a registration access token."""
    response = _register(server, {"redirect_uris": [CB], "client_name": "Notes CLI", "scope": "notes:read openid"})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    info = response.json()
    assert info["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in info
    assert info["redirect_uris"] == [CB]
    assert info["grant_types"] == ["authorization_code"]
    assert info["response_types"] == ["code"]
    assert info["scope"] == "notes:read openid"
    assert info["client_name"] == "Notes CLI"
    assert info["registration_client_uri"] == f"{server.base}/register/{info['client_id']}"
    stored = server.row(
        "SELECT client_type, registration_access_token_hash FROM clients WHERE client_id = ?", info["client_id"]
    )
    assert stored is not None and stored[0] == "public"
    token_hash = hashlib.sha256(info["registration_access_token"].encode()).hexdigest()
    assert stored[1] == token_hash  # hashed at rest, never the token itself


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://app.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://localhost/callback"]}, "invalid_redirect_uri"),  # localhost needs its port
        ({"redirect_uris": "https://app.example/cb"}, "invalid_client_metadata"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": [CB], "token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "response_types": ["token"]}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "scope": "pixie:admin"}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "scope": 'bad"scope'}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "logo_uri": "http://app.example/logo.png"}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "client_name": "x" * 101}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "client_name": 7}, "invalid_client_metadata"),
        ({"redirect_uris": [CB], "dpop_bound_access_tokens": "yes"}, "invalid_client_metadata"),
        (["not", "an", "object"], "invalid_client_metadata"),
    ],
)
def test_bad_metadata_gets_the_rfc_7591_error(server: Server, metadata: Any, error: str) -> None:
    """RFC 7591 §3.2.2: ``invalid_redirect_uri`` or ``invalid_client_metadata``, 400, no-store; nothing stored."""
    before = server.row("SELECT COUNT(*) FROM clients")
    _refused(_register(server, metadata), error)
    assert server.row("SELECT COUNT(*) FROM clients") == before


def test_a_public_client_may_register_a_localhost_development_server(server: Server) -> None:
    """MCP hosts listen on ``http://localhost:PORT/callback``: a public client may register it (matched exactly);
    a confidential one may not (RFC 8252 §8.3)."""
    uri = "http://localhost:33418/callback"
    public = _register(server, {"redirect_uris": [uri]})
    assert public.status_code == 201 and public.json()["redirect_uris"] == [uri], public.text
    confidential = _register(server, {"redirect_uris": [uri]}, tenant="tok", token=server.initial_token)
    _refused(confidential, "invalid_redirect_uri")


def test_a_body_that_is_not_json_is_invalid_client_metadata(server: Server) -> None:
    response = httpx.post(f"{server.base}/register", content=b"{nope", headers={"content-type": "application/json"})
    _refused(response, "invalid_client_metadata")
    form = httpx.post(f"{server.base}/register", data={"redirect_uris": CB})
    _refused(form, "invalid_client_metadata")


def test_the_scopes_of_registered_resources_may_be_registered(server: Server) -> None:
    """A client registering to call a protected resource (RFC 8707) may ask for the scopes it accepts, though they
    are not among the tenant's registration_scopes; a resource-bound sign-in then gets aud = the resource."""
    response = _register(server, {"redirect_uris": [CB], "scope": "calendar:read notes:read"})
    assert response.status_code == 201, response.text
    assert response.json()["scope"] == "calendar:read notes:read"
    _refused(_register(server, {"redirect_uris": [CB], "scope": "calendar:write"}), "invalid_client_metadata")
    client_id, resource = response.json()["client_id"], "https://calendar.example/api"
    verifier, challenge = _pkce()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CB,
            "scope": "calendar:read",
            "resource": resource,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    location = browse_to_callback(f"{server.base}/authorize?{query}", CB, "alice", PASSWORD)
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CB, "client_id": client_id}
    tokens = httpx.post(f"{server.base}/token", data={**form, "code_verifier": verifier}).json()
    payload = tokens["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == resource and claims["scope"] == "calendar:read"


def test_unknown_fields_are_ignored_and_client_id_is_never_taken(server: Server) -> None:
    """RFC 7591 §2: the server ignores metadata it does not understand; the client id is the server's choice."""
    response = _register(server, {"redirect_uris": [CB], "client_id": "chosen", "software_id": "x", "nonsense": 1})
    assert response.status_code == 201, response.text
    assert response.json()["client_id"] != "chosen"
    assert "nonsense" not in response.json()


def test_token_policy_needs_a_live_initial_access_token(server: Server) -> None:
    """RFC 7591 §3: with a token policy, a missing or wrong initial access token is 401 ``invalid_token``."""
    for token in (None, "nope", server.initial_token + "x", "x." + server.initial_token.split(".", 1)[1]):
        response = _register(server, {"redirect_uris": [CB]}, tenant="tok", token=token)
        _refused(response, "invalid_token", 401)
        assert response.headers["www-authenticate"].startswith("Bearer ")
    confidential = _register(server, {"redirect_uris": [CB]}, tenant="tok", token=server.initial_token)
    assert confidential.status_code == 201, confidential.text
    info = confidential.json()
    assert info["token_endpoint_auth_method"] == "client_secret_basic"
    assert len(info["client_secret"]) >= 43 and info["client_secret_expires_at"] == 0
    assert info["registration_client_uri"] == f"{server.base}/t/tok/register/{info['client_id']}"
    # the secret authenticates at the token endpoint (then the grant, not registered, is refused); a wrong one not
    form = {"grant_type": "refresh_token", "refresh_token": "x"}
    grant = httpx.post(f"{server.base}/t/tok/token", data=form, auth=(info["client_id"], info["client_secret"]))
    assert grant.json()["error"] == "unauthorized_client"
    wrong = httpx.post(f"{server.base}/t/tok/token", data=form, auth=(info["client_id"], "not-the-secret"))
    assert wrong.json()["error"] == "invalid_client"


def test_registration_off_is_not_found_and_not_advertised(server: Server) -> None:
    _refused(_register(server, {"redirect_uris": [CB]}, tenant="closed"), "invalid_request", 404)
    closed = httpx.get(f"{server.base}/t/closed/.well-known/oauth-authorization-server").json()
    assert "registration_endpoint" not in closed
    assert "client_id_metadata_document_supported" not in closed
    opened = httpx.get(f"{server.base}/.well-known/oauth-authorization-server").json()
    assert opened["registration_endpoint"] == f"{server.base}/register"
    openid = httpx.get(f"{server.base}/.well-known/openid-configuration").json()
    assert openid["registration_endpoint"] == f"{server.base}/register"


def test_read_and_delete_with_the_registration_access_token(server: Server) -> None:
    """RFC 7592 §2.1 (read), §2.3 (delete, 204; afterwards the token is invalid: 401)."""
    info = _register(server, {"redirect_uris": [CB], "scope": "notes:read"}).json()
    uri, token = info["registration_client_uri"], info["registration_access_token"]
    read = httpx.get(uri, headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200 and read.headers["cache-control"] == "no-store"
    assert read.json()["client_id"] == info["client_id"] and read.json()["scope"] == "notes:read"
    assert "registration_access_token" not in read.json()
    for wrong in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
        _refused(httpx.get(uri, headers=wrong), "invalid_token", 401)
    other = _register(server, {"redirect_uris": [CB]}).json()
    _refused(
        httpx.get(other["registration_client_uri"], headers={"Authorization": f"Bearer {token}"}), "invalid_token", 401
    )
    deleted = httpx.delete(uri, headers={"Authorization": f"Bearer {token}"})
    assert deleted.status_code == 204
    _refused(httpx.get(uri, headers={"Authorization": f"Bearer {token}"}), "invalid_token", 401)
    assert server.row("SELECT 1 FROM clients WHERE client_id = ?", info["client_id"]) is None


def test_an_administrators_client_cannot_be_read_through_rfc_7592(server: Server) -> None:
    """Clients registered by an administrator have no registration access token: nothing opens them."""
    _refused(
        httpx.get(f"{server.base}/register/pixie-dashboard", headers={"Authorization": "Bearer x"}),
        "invalid_token",
        401,
    )


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_a_registered_client_signs_in_and_its_use_is_recorded(server: Server) -> None:
    """The registered client completes the code flow with PKCE; its last use is recorded for housekeeping."""
    info = _register(
        server, {"redirect_uris": [CB], "scope": "notes:read", "grant_types": ["authorization_code", "refresh_token"]}
    ).json()
    client_id = info["client_id"]
    assert server.row("SELECT last_used_at FROM clients WHERE client_id = ?", client_id) == (None,)
    verifier, challenge = _pkce()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CB,
            "scope": "notes:read",
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    location = browse_to_callback(f"{server.base}/authorize?{query}", CB, "alice", PASSWORD)
    code = parse_qs(urlsplit(location).query)["code"][0]
    tokens = httpx.post(
        f"{server.base}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CB,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "notes:read"
    used = server.row("SELECT last_used_at FROM clients WHERE client_id = ?", client_id)
    assert used is not None and isinstance(used[0], float)


def test_open_registration_is_rate_limited_per_address(tmp_path: Any) -> None:
    """RFC 7591 §5: an open endpoint must not let one party fill the database: 429 with Retry-After."""
    for server in start(tmp_path, rate_limits=RateLimits(register_per_ip="3/minute")):
        answers = [_register(server, {"redirect_uris": [CB]}).status_code for _ in range(4)]
        assert answers == [201, 201, 201, 429]
        limited = _register(server, {"redirect_uris": [CB]})
        assert limited.headers["retry-after"].isdigit()
        assert server.row("SELECT COUNT(*) FROM clients WHERE registration_access_token_hash IS NOT NULL") == (3,)
