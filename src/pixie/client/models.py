"""The client's values: HTTP request/response descriptions, server metadata, the authorization transaction and the
token set. Plain data, no I/O: :mod:`pixie.client.flows` builds and checks them, the edges send them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "AuthorizationStart",
    "AuthorizationTransaction",
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

    Spec: RFC 8414 §2; RFC 9207 §3 (``authorization_response_iss_parameter_supported``).
    """

    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    jwks_uri: str | None = None
    code_challenge_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    authorization_response_iss_parameter_supported: bool = False
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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a serialised token set: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))
