"""Records with sensible defaults, so each test spells out only what it is about."""

from __future__ import annotations

import secrets
from typing import Any

from pixie.storage.records import (
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    Event,
    RefreshFamily,
    RefreshToken,
    SigningKey,
    SsoSession,
    User,
)
from pixie.types import KeyState

NOW = 1_800_000_000.0
TENANT = "acme"
OTHER = "globex"


def token_hash() -> str:
    """A stand-in for a SHA-256 hex digest."""
    return secrets.token_hex(32)


def client(tenant_id: str = TENANT, client_id: str = "spa", **changes: Any) -> Client:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "client_id": client_id,
        "client_type": "public",
        "token_endpoint_auth_method": "none",
        "redirect_uris": ("https://app.example/cb", "http://127.0.0.1/cb"),
        "grant_types": ("authorization_code", "refresh_token"),
        "scopes": ("openid", "properties:read"),
        "created_at": NOW,
    }
    return Client(**(values | changes))


def user(tenant_id: str = TENANT, user_id: str = "u1", username: str = "alice", **changes: Any) -> User:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "username": username,
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "created_at": NOW,
    }
    return User(**(values | changes))


def session(tenant_id: str = TENANT, **changes: Any) -> SsoSession:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "session_hash": token_hash(),
        "user_id": "u1",
        "auth_time": NOW,
        "created_at": NOW,
        "last_seen_at": NOW,
        "idle_ttl": 3600,
        "absolute_expires_at": NOW + 86400,
    }
    return SsoSession(**(values | changes))


def request(tenant_id: str = TENANT, **changes: Any) -> AuthorizationRequest:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "request_id": secrets.token_urlsafe(16),
        "client_id": "spa",
        "redirect_uri": "https://app.example/cb",
        "redirect_uri_provided": True,
        "scopes": ("openid", "properties:read"),
        "state": "xyz",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "prompt": ("login", "consent"),
        "correlation_id": secrets.token_hex(8),
        "csrf_hash": token_hash(),
        "created_at": NOW,
        "expires_at": NOW + 600,
    }
    return AuthorizationRequest(**(values | changes))


def code(tenant_id: str = TENANT, **changes: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "code_hash": token_hash(),
        "client_id": "spa",
        "user_id": "u1",
        "redirect_uri": "https://app.example/cb",
        "redirect_uri_provided": False,
        "scopes": ("openid", "properties:read"),
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "auth_time": NOW,
        "correlation_id": secrets.token_hex(8),
        "created_at": NOW,
        "expires_at": NOW + 60,
    }
    return AuthorizationCode(**(values | changes))


def family(tenant_id: str = TENANT, **changes: Any) -> RefreshFamily:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "family_id": secrets.token_urlsafe(16),
        "client_id": "spa",
        "user_id": "u1",
        "scopes": ("openid", "offline_access"),
        "auth_time": NOW,
        "created_at": NOW,
        "absolute_expires_at": NOW + 90 * 86400,
    }
    return RefreshFamily(**(values | changes))


def refresh_token(of: RefreshFamily, **changes: Any) -> RefreshToken:
    values: dict[str, Any] = {
        "tenant_id": of.tenant_id,
        "token_hash": token_hash(),
        "family_id": of.family_id,
        "scopes": of.scopes,
        "created_at": NOW,
        "expires_at": NOW + 14 * 86400,
        "access_jti": secrets.token_urlsafe(12),
        "access_expires_at": NOW + 300,
    }
    return RefreshToken(**(values | changes))


def signing_key(tenant_id: str = TENANT, kid: str = "kid-1", **changes: Any) -> SigningKey:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "kid": kid,
        "alg": "ES256",
        "state": KeyState.NEXT,
        "private_key_encrypted": b"\x00\x01encrypted\xff",
        "public_jwk": {"kty": "EC", "crv": "P-256", "x": "x-coordinate", "y": "y-coordinate", "kid": kid},
        "created_at": NOW,
    }
    return SigningKey(**(values | changes))


def event(tenant_id: str = TENANT, kind: str = "token", created_at: float = NOW, **changes: Any) -> Event:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "kind": kind,
        "outcome": "success",
        "created_at": created_at,
    }
    return Event(**(values | changes))
