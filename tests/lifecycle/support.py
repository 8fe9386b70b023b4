"""Helpers of the token-lifecycle suite: who the clients are, and one-line requests to /token, /revoke and
/introspect of the real server started by ``conftest.py``.

Client authentication follows each client's registration: confidential clients (those in :data:`SECRETS`) use HTTP
Basic, except ``svc-post`` which sends its secret in the body; public clients send only ``client_id``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from spec.support import Browser, Pixie, Pkce, authorize_pairs, sha256_hex, token_request

SCOPES = ("properties:read", "tenants:read")
FULL_SCOPE = " ".join(SCOPES)
RS_SECRET = "resource-server-secret-0123456789-abcdefgh"
POST_SECRET = "post-client-secret-0123456789-abcdefghijk"
WEB_SECRET = "web-client-secret-0123456789-abcdefghijkl"
OTHER_RS_SECRET = "other-tenant-rs-secret-0123456789-abcdefg"
SECRETS = {"rs": RS_SECRET, "svc-post": POST_SECRET, "web": WEB_SECRET}
GRACE_SECONDS = 30


def client_kwargs(client_id: str | None, data: dict[str, str]) -> dict[str, Any]:
    """httpx keyword arguments that authenticate ``client_id`` the way it is registered (None: no client at all)."""
    if client_id is None:
        return {"data": data}
    if client_id == "svc-post":
        return {"data": {**data, "client_id": client_id, "client_secret": POST_SECRET}}
    if client_id in SECRETS:
        return {"data": data, "auth": (client_id, SECRETS[client_id])}
    return {"data": {**data, "client_id": client_id}}


def refresh(http: httpx.Client, refresh_token: str, client_id: str = "app", **extra: str) -> httpx.Response:
    """``grant_type=refresh_token`` (RFC 6749 §6)."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return http.post("/token", **client_kwargs(client_id, data))


def refreshed(http: httpx.Client, refresh_token: str, client_id: str = "app", **extra: str) -> dict[str, Any]:
    """A successful refresh's body."""
    response = refresh(http, refresh_token, client_id, **extra)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def revoke(http: httpx.Client, token: str | None, client_id: str | None = "app", **extra: str) -> httpx.Response:
    """``POST /revoke`` (RFC 7009 §2.1)."""
    data = {"token": token, **extra} if token is not None else dict(extra)
    return http.post("/revoke", **client_kwargs(client_id, data))


def assert_revoke_ok(response: httpx.Response) -> None:
    """RFC 7009 §2.2: 200 whatever became of the token; nothing in the body; never cached."""
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"


def introspect(http: httpx.Client, token: str | None, client_id: str | None = "rs", **extra: str) -> httpx.Response:
    """``POST /introspect`` (RFC 7662 §2.1), by the resource server ``rs`` unless told otherwise."""
    data = {"token": token, **extra} if token is not None else dict(extra)
    return http.post("/introspect", **client_kwargs(client_id, data))


def introspection(http: httpx.Client, token: str, **extra: str) -> dict[str, Any]:
    """A successful introspection's body (RFC 7662 §2.2: JSON, never cached)."""
    response = introspect(http, token, **extra)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def is_active(http: httpx.Client, token: str) -> bool:
    body = introspection(http, token)
    if not body["active"]:
        # RFC 7662 §2.2: nothing more should be said about an inactive token.
        assert body == {"active": False}, body
    return bool(body["active"])


def authorize_tokens(
    alice: Browser, http: httpx.Client, client_id: str = "app", scope: str = FULL_SCOPE
) -> dict[str, Any]:
    """A fresh authorization (code → tokens) for alice: a new refresh-token family of its own."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id=client_id, challenge=proof.challenge, scope=scope))
    response = token_request(http, code, proof.verifier, client_id=client_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "refresh_token" in body, body
    return body


def family_of(pixie: Pixie, refresh_token: str) -> tuple[str, float | None, str | None]:
    """(family_id, revoked_at, revoked_reason) of a refresh token, read from the database."""
    rows = pixie.query(
        "SELECT f.family_id, f.revoked_at, f.revoked_reason FROM refresh_tokens t JOIN refresh_families f"
        " ON f.tenant_id = t.tenant_id AND f.family_id = t.family_id WHERE t.token_hash = ?",
        (sha256_hex(refresh_token),),
    )
    assert len(rows) == 1, rows
    family_id, revoked_at, reason = rows[0]
    return family_id, revoked_at, reason


def set_token_column(pixie: Pixie, refresh_token: str, column: str, seconds_ago: float) -> None:
    """Move a timestamp column of one refresh token into the past (expiry and grace tests: no forged tokens)."""
    assert column in ("expires_at", "used_at")
    count = pixie.execute(
        f"UPDATE refresh_tokens SET {column} = ? WHERE token_hash = ?",  # noqa: S608  (column from a fixed set)
        (time.time() - seconds_ago, sha256_hex(refresh_token)),
    )
    assert count == 1
