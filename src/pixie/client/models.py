"""The client's values: HTTP request/response descriptions, server metadata, the authorization transaction and the
token set. Plain data, no I/O: :mod:`pixie.client.flows` builds and checks them, the edges send them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

__all__ = [
    "AuthMethod",
    "AuthorizationStart",
    "AuthorizationTransaction",
    "ClientAuth",
    "HttpRequest",
    "HttpResponse",
    "ServerMetadata",
    "TRANSACTION_LIFETIME",
    "TokenSet",
]

TRANSACTION_LIFETIME = 600.0
"""Seconds an authorization transaction stays usable (10 minutes): long enough to sign in, short enough that a
forgotten tab cannot be completed tomorrow."""


@dataclass(frozen=True)
class HttpRequest:
    """A request for an edge to send: ``body`` is already encoded; header names as sent."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    """A received response: header names lower-cased, body fully read."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class ServerMetadata:
    """The parts of an RFC 8414 document the client uses; ``raw`` keeps the whole document.

    Spec: RFC 8414 §2; RFC 9207 §3 (``authorization_response_iss_parameter_supported``); RFC 9126 §5 (PAR).
    """

    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    code_challenge_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    authorization_response_iss_parameter_supported: bool = False
    pushed_authorization_request_endpoint: str | None = None
    require_pushed_authorization_requests: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class AuthorizationTransaction:
    """What a client keeps between sending the user to ``/authorize`` and receiving the callback.

    It is small and JSON-serialisable (:meth:`to_dict` / :meth:`from_dict`) so a web app can keep it in its session.
    ``code_verifier`` is a secret: keep the transaction server-side or in an encrypted cookie. It can be completed
    once (``consumed``) and only until ``expires_at``; a web app should also delete it from the session when done,
    because a copy restored from before the completion does not know it was used.

    Spec: RFC 7636 §4.1 (verifier), RFC 6749 §10.12 (state), RFC 9700 §2.1 (one-time CSRF protection).
    """

    issuer: str
    client_id: str
    redirect_uri: str
    state: str
    code_verifier: str = field(repr=False)
    scope: str | None
    expires_at: float
    consumed: bool = False
    nonce: str | None = field(default=None, repr=False)
    """The OpenID Connect ``nonce`` sent (when ``openid`` was asked for): the ID token must bring it back."""
    max_age: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_verifier": self.code_verifier,
            "scope": self.scope,
            "expires_at": self.expires_at,
            "consumed": self.consumed,
            "nonce": self.nonce,
            "max_age": self.max_age,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthorizationTransaction:
        try:
            return cls(
                issuer=str(data["issuer"]),
                client_id=str(data["client_id"]),
                redirect_uri=str(data["redirect_uri"]),
                state=str(data["state"]),
                code_verifier=str(data["code_verifier"]),
                scope=None if data.get("scope") is None else str(data["scope"]),
                expires_at=float(data["expires_at"]),
                consumed=bool(data.get("consumed", False)),
                nonce=None if data.get("nonce") is None else str(data["nonce"]),
                max_age=None if data.get("max_age") is None else int(data["max_age"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a serialised authorization transaction: {exc}") from None


class AuthorizationStart(NamedTuple):
    """The URL to send the user to, and the transaction to keep until the callback."""

    url: str
    transaction: AuthorizationTransaction


@dataclass(frozen=True)
class TokenSet:
    """A validated token response with an absolute expiry (``expires_at``, seconds since the epoch, or ``None`` when
    the server did not say). Tokens never appear in ``repr``. ``raw`` is the last token response as received.

    Spec: RFC 6749 §5.1.
    """

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float | None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    issued_at: float = 0.0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    id_token: str | None = field(default=None, repr=False)
    """The OpenID Connect ID token, validated (see :attr:`claims`); None unless ``openid`` was asked for."""
    claims: Mapping[str, Any] | None = None
    """The validated ID token's claims: who signed in (``sub``), when (``auth_time``), at which issuer."""
    dpop_key: Mapping[str, Any] | None = field(default=None, repr=False)
    """For DPoP-bound tokens (``token_type`` DPoP): the private key (a JWK) they are bound to, kept with them so a
    token store keeps both or neither (RFC 9449)."""

    def refresh_at(self, margin: float) -> float | None:
        """When to refresh: ``margin`` seconds before expiry, but never earlier than half-way through the lifetime
        (so a 30-second token is not refreshed on every call because of a 60-second margin)."""
        if self.expires_at is None:
            return None
        lifetime = max(self.expires_at - self.issued_at, 0.0)
        return self.expires_at - min(margin, lifetime / 2)

    def is_fresh(self, margin: float, now: float | None = None) -> bool:
        """True while the access token can be used without refreshing first."""
        due = self.refresh_at(margin)
        return due is None or (time.time() if now is None else now) < due

    def as_response(self, now: float | None = None) -> dict[str, Any]:
        """The token response this set stands for, ``expires_in`` counted from ``now`` (for printing)."""
        body = dict(self.raw)
        body.update({"access_token": self.access_token, "token_type": self.token_type})
        if self.expires_at is not None:
            body["expires_in"] = max(int(self.expires_at - (time.time() if now is None else now)), 0)
        for name, value in (("refresh_token", self.refresh_token), ("scope", self.scope)):
            if value is not None:
                body[name] = value
        return body

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "issued_at": self.issued_at,
            "raw": dict(self.raw),
            "id_token": self.id_token,
            "claims": None if self.claims is None else dict(self.claims),
            "dpop_key": None if self.dpop_key is None else dict(self.dpop_key),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        try:
            expires_at = data.get("expires_at")
            return cls(
                access_token=str(data["access_token"]),
                token_type=str(data["token_type"]),
                expires_at=None if expires_at is None else float(expires_at),
                refresh_token=None if data.get("refresh_token") is None else str(data["refresh_token"]),
                scope=None if data.get("scope") is None else str(data["scope"]),
                issued_at=float(data.get("issued_at", 0.0)),
                raw=dict(data.get("raw") or {}),
                id_token=None if data.get("id_token") is None else str(data["id_token"]),
                claims=None if data.get("claims") is None else dict(data["claims"]),
                dpop_key=None if data.get("dpop_key") is None else dict(data["dpop_key"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a serialised token set: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


AuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class ClientAuth:
    """Who the client is and how it authenticates at the token endpoint. A public client has no secret (``none``);
    a confidential one defaults to HTTP Basic, or to ``client_secret_post`` when the server supports only that.

    Spec: RFC 6749 §2.3.1, OAuth 2.1 §2.4.1, RFC 8414 §2 (``token_endpoint_auth_methods_supported``).
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    method: AuthMethod | None = None

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if self.method == "none" and self.client_secret is not None:
            raise ValueError("auth method 'none' is for public clients: drop the secret")
        if self.method in ("client_secret_basic", "client_secret_post") and not self.client_secret:
            raise ValueError(f"auth method {self.method!r} needs a client secret")

    def method_for(self, metadata: ServerMetadata) -> AuthMethod:
        if self.method is not None:
            return self.method
        if self.client_secret is None:
            return "none"
        supported = metadata.token_endpoint_auth_methods_supported
        if supported and "client_secret_basic" not in supported and "client_secret_post" in supported:
            return "client_secret_post"
        return "client_secret_basic"
