"""Typed records that the stores read and write. Frozen: a changed record is a new record.

Secrets never appear here in plaintext: codes, refresh tokens, session ids and client secrets are carried as
their SHA-256 hex digests (``*_hash``), user passwords as Argon2id hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pixie.types import ClientAuthMethod, ClientType, KeyState, TenantId, Timestamp

__all__ = [
    "AdminSession",
    "AuthorizationCode",
    "AuthorizationRequest",
    "Client",
    "CodeRedemption",
    "Consent",
    "DirectoryChange",
    "EndedAccess",
    "Event",
    "EventData",
    "PushedRequest",
    "RefreshFamily",
    "RefreshRotation",
    "RefreshToken",
    "RegistrationToken",
    "Resource",
    "SigningKey",
    "SsoSession",
    "Tenant",
    "TenantSettings",
    "User",
]


@dataclass(frozen=True)
class TenantSettings:
    """Per-tenant policy. Stored as JSON; unknown keys from newer versions are ignored on read."""

    access_token_ttl: int = 300
    code_ttl: int = 60
    request_ttl: int = 600
    refresh_idle_ttl: int = 14 * 24 * 3600
    refresh_absolute_ttl: int = 90 * 24 * 3600
    session_idle_ttl: int = 8 * 3600
    session_absolute_ttl: int = 7 * 24 * 3600
    signing_alg: str = "ES256"
    key_rotation_days: int = 90
    default_audience: str | None = None
    allowed_grant_types: tuple[str, ...] = ("authorization_code", "refresh_token", "client_credentials")
    refresh_grace_seconds: int = 0
    """The refresh grace window (0-60 s) given to clients registered in this tenant without one of their own; a
    client's window is fixed when it is registered (ARCHITECTURE §6.4: only a client configured with one has it)."""
    login_title: str = "Sign in"
    brand_color: str = "#4f46e5"
    scope_roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Role-gated scopes: an entry ``(scope, roles)`` lets only users holding one of ``roles`` receive ``scope``
    (others get a token without it, RFC 6749 §3.3). Scopes not listed are open to every user."""
    webhooks: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """Webhook subscriptions ``(url, sealed secret, event kinds)``; see :mod:`pixie.webhooks`."""
    dpop_nonce: bool = False
    """Require the server's nonce in DPoP proofs at the token endpoint (RFC 9449 §8): a proof made in advance
    by a compromised client then stops working when the nonce changes."""
    require_pushed_authorization_requests: bool = False
    """Every client's authorization requests must be pushed first (RFC 9126 §5, §6)."""
    registration: str = "off"
    """Dynamic client registration (RFC 7591): ``off``, ``token`` (an initial access token from ``pixie
    registration-tokens create`` is required) or ``open`` (anyone may register a public client)."""
    registration_scopes: tuple[str, ...] = ()
    """The scopes a self-registered client may ask for (besides the OpenID Connect ones)."""
    registration_idle_days: int = 30
    """Self-registered clients that received no token for this many days are removed by housekeeping."""
    client_metadata_documents: bool = False
    """Accept an https URL as ``client_id`` and read the client's metadata from it (OAuth Client ID Metadata
    Document)."""
    insecure_client_metadata_loopback: bool = False
    """Development only: client metadata documents may be fetched from loopback addresses, over http too."""


@dataclass(frozen=True)
class Tenant:
    id: TenantId
    display_name: str
    created_at: Timestamp
    disabled: bool = False
    settings: TenantSettings = field(default_factory=TenantSettings)


@dataclass(frozen=True)
class Client:
    """A registered client. ``secret_hash`` is None exactly for public clients."""

    tenant_id: TenantId
    client_id: str
    client_type: ClientType
    token_endpoint_auth_method: ClientAuthMethod
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: Timestamp
    secret_hash: str | None = None
    audiences: tuple[str, ...] = ()
    name: str = ""
    refresh_grace_seconds: int = 0
    access_token_ttl: int | None = None
    refresh_idle_ttl: int | None = None
    refresh_absolute_ttl: int | None = None
    disabled: bool = False
    post_logout_redirect_uris: tuple[str, ...] = ()
    """Where RP-Initiated Logout may send the browser afterwards (exact match, like ``redirect_uris``)."""
    id_token_signed_response_alg: str | None = None
    """The algorithm of this client's ID tokens; None: the tenant's ``signing_alg`` (OpenID Connect Registration
    §2)."""
    dpop_bound_access_tokens: bool = False
    """Every token request of this client must carry a DPoP proof (RFC 9449 §5.2)."""
    require_pushed_authorization_requests: bool = False
    """This client's authorization requests must be pushed first (RFC 9126 §6)."""
    logo_uri: str | None = None
    """An https URL of the client's logo (RFC 7591 §2), shown beside ``name`` on the sign-in and consent pages."""
    registration_access_token_hash: str | None = None
    """SHA-256 of the registration access token (RFC 7592 §3) of a client that registered itself (RFC 7591);
    None for a client an administrator registered. Such clients are removed when unused for the tenant's
    ``registration_idle_days``."""
    last_used_at: Timestamp | None = None
    """When the client last received tokens, recorded at most about once an hour (see
    :meth:`~pixie.storage.interfaces.ClientStore.touch`); None: never, or not tracked."""


@dataclass(frozen=True)
class RegistrationToken:
    """An initial access token for dynamic client registration (RFC 7591 §3): ``token_id`` is its public part
    (listed and revoked by it), ``token_hash`` the SHA-256 of the whole token."""

    tenant_id: TenantId
    token_id: str
    token_hash: str
    created_at: Timestamp
    expires_at: Timestamp | None = None


@dataclass(frozen=True)
class Resource:
    """A protected resource (an API) of a tenant, named by clients in the ``resource`` parameter (RFC 8707).

    ``identifier`` is an absolute URI without fragment; tokens issued for the resource carry it as ``aud``.
    ``scopes`` are the scopes it accepts (empty: any scope the client may have); ``access_token_ttl`` overrides
    the client's and tenant's access-token lifetime for tokens issued to it."""

    tenant_id: TenantId
    identifier: str
    name: str
    scopes: tuple[str, ...]
    created_at: Timestamp
    access_token_ttl: int | None = None


@dataclass(frozen=True)
class User:
    """A person who signs in. The profile fields are the OpenID Connect standard claims Pixie releases by scope
    (``profile``: name, given_name, family_name; ``email``: email, email_verified)."""

    tenant_id: TenantId
    user_id: str
    username: str
    password_hash: str
    created_at: Timestamp
    roles: tuple[str, ...] = ()
    disabled: bool = False
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    email_verified: bool = False


@dataclass(frozen=True)
class EndedAccess:
    """What ending an account's access took away, in one transaction: the refresh-token families revoked, the live
    access tokens recorded on them (or on the codes that started them) deny-listed, and, for a user, the SSO and
    dashboard sessions revoked. Unredeemed codes and pending authorization requests of the account go too."""

    refresh_families: int = 0
    access_tokens: int = 0
    sso_sessions: int = 0
    admin_sessions: int = 0


@dataclass(frozen=True)
class SsoSession:
    """A signed-in browser. Idle expiry is ``last_seen_at + idle_ttl``; absolute expiry is fixed at creation."""

    tenant_id: TenantId
    session_hash: str
    user_id: str
    auth_time: Timestamp
    created_at: Timestamp
    last_seen_at: Timestamp
    idle_ttl: int
    absolute_expires_at: Timestamp
    revoked_at: Timestamp | None = None

    def live(self, now: Timestamp) -> bool:
        return self.revoked_at is None and now < self.absolute_expires_at and now < self.last_seen_at + self.idle_ttl


@dataclass(frozen=True)
class Consent:
    tenant_id: TenantId
    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    granted_at: Timestamp


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request waiting for login and consent (RFC 6749 §4.1.1, RFC 7636 §4.3).

    ``redirect_uri_provided`` records whether the client sent ``redirect_uri``: then the token request must repeat
    it (RFC 6749 §4.1.3). ``csrf_hash`` binds the login and consent forms to this request.
    """

    tenant_id: TenantId
    request_id: str
    client_id: str
    redirect_uri: str
    redirect_uri_provided: bool
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    code_challenge_method: str
    prompt: tuple[str, ...]
    correlation_id: str
    csrf_hash: str
    created_at: Timestamp
    expires_at: Timestamp
    user_id: str | None = None
    auth_time: Timestamp | None = None
    nonce: str | None = None
    """OpenID Connect ``nonce``, echoed in the ID token (Core §3.1.2.1)."""
    max_age: int | None = None
    """OpenID Connect ``max_age``: a session older than this many seconds must sign in again."""
    login_hint: str | None = None
    """OpenID Connect ``login_hint``: pre-fills the username on the login page."""
    dpop_jkt: str | None = None
    """The DPoP key the code must be redeemed with (RFC 9449 §10), if the request named one."""
    response_mode: str | None = None
    """``form_post`` when the response goes back as an auto-submitted form; None or ``query``: a redirect."""
    resources: tuple[str, ...] = ()
    """The protected resources the request named (RFC 8707 ``resource``); empty: none named."""


@dataclass(frozen=True)
class PushedRequest:
    """An authorization request pushed by an authenticated client (RFC 9126), waiting for its ``request_uri`` at
    ``/authorize``. ``uri_hash`` is the SHA-256 of the ``request_uri``'s random part; ``parameters`` the request's
    parameters as a JSON array of name/value pairs, exactly as validated."""

    tenant_id: TenantId
    uri_hash: str
    client_id: str
    parameters: str
    created_at: Timestamp
    expires_at: Timestamp


@dataclass(frozen=True)
class AuthorizationCode:
    """A code, bound to everything the token request must match (RFC 9700 §4.5, §2.1.1): sealed into the code itself
    when issued (:mod:`pixie.tokens.codes`), stored once redeemed, with what it produced."""

    tenant_id: TenantId
    code_hash: str
    client_id: str
    user_id: str
    redirect_uri: str
    redirect_uri_provided: bool
    scopes: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    auth_time: Timestamp
    correlation_id: str
    created_at: Timestamp
    expires_at: Timestamp
    consumed_at: Timestamp | None = None
    family_id: str | None = None
    access_jti: str | None = None
    access_expires_at: Timestamp | None = None
    nonce: str | None = None
    sid: str | None = None
    """The OpenID Connect session id of the SSO session that signed in (the ID token's ``sid``)."""
    dpop_jkt: str | None = None
    """The DPoP key the code must be redeemed with (RFC 9449 §10), if the request named one."""
    resources: tuple[str, ...] = ()
    """The protected resources the code was granted for (RFC 8707); a token request may name a subset."""


@dataclass(frozen=True)
class CodeRedemption:
    """Outcome of one attempt to redeem a code.

    ``redeemed``: this caller won and owns the code. ``replayed``: the code was already redeemed — the caller must
    revoke what was issued from it (RFC 9700 §4.2.4). ``unknown``: its user is gone or disabled; plain
    ``invalid_grant``.
    """

    status: Literal["redeemed", "replayed", "unknown"]
    code: AuthorizationCode | None


@dataclass(frozen=True)
class RefreshFamily:
    """Every refresh token descending from one authorization (RFC 9700 §4.14.2)."""

    tenant_id: TenantId
    family_id: str
    client_id: str
    user_id: str | None
    scopes: tuple[str, ...]
    auth_time: Timestamp | None
    created_at: Timestamp
    absolute_expires_at: Timestamp
    revoked_at: Timestamp | None = None
    revoked_reason: str | None = None
    dpop_jkt: str | None = None
    """The thumbprint of the DPoP key a public client's refresh tokens are bound to (RFC 9449 §5), if any."""
    sid: str | None = None
    """The SSO session this authorization came from (its ``sid``): ending that session revokes the family."""
    resources: tuple[str, ...] = ()
    """The protected resources granted (RFC 8707): a refresh may name a subset of them, never another."""


@dataclass(frozen=True)
class RefreshToken:
    """One refresh token of a family. ``used_at``/``replaced_by_hash`` are set when it is rotated;
    ``retry_response`` holds the successor's token response encrypted under a key derived from this token, so an
    identical retry inside the grace window can get the same pair again without storing any token in plaintext."""

    tenant_id: TenantId
    token_hash: str
    family_id: str
    scopes: tuple[str, ...]
    created_at: Timestamp
    expires_at: Timestamp
    access_jti: str | None = None
    access_expires_at: Timestamp | None = None
    used_at: Timestamp | None = None
    replaced_by_hash: str | None = None
    retry_response: bytes | None = None


@dataclass(frozen=True)
class RefreshRotation:
    """Outcome of one attempt to rotate a refresh token.

    ``rotated``: this caller won; ``successor`` is now live. ``already_used``: it was rotated before (reuse, or a
    retry inside the grace window — the caller decides with ``token.used_at`` and ``token.retry_response``).
    ``revoked`` / ``expired`` / ``unknown``: ``invalid_grant``.
    """

    status: Literal["rotated", "already_used", "revoked", "expired", "unknown"]
    token: RefreshToken | None
    family: RefreshFamily | None


@dataclass(frozen=True)
class SigningKey:
    """A signing key of a tenant. ``kid`` is the RFC 7638 thumbprint; the private key is encrypted at rest under the
    master key whose fingerprint is ``sealed_by`` (None for a key stored before fingerprints were recorded)."""

    tenant_id: TenantId
    kid: str
    alg: str
    state: KeyState
    private_key_encrypted: bytes
    public_jwk: dict[str, Any]
    created_at: Timestamp
    activated_at: Timestamp | None = None
    retired_at: Timestamp | None = None
    sealed_by: str | None = None


@dataclass(frozen=True)
class DirectoryChange:
    """A tenant, client or signing key was inserted, updated or deleted (``directory_changes``, written by triggers).

    ``kind`` is ``tenant``, ``client`` or ``key``; ``name`` is the client's id for a client, empty otherwise. ``id``
    only grows, in the order the changes were written (not always the order they were committed in)."""

    id: int
    tenant_id: TenantId
    kind: str
    name: str


@dataclass(frozen=True)
class AdminSession:
    """A signed-in administrator of the dashboard (``/admin``), kept server-side so that it can end at once: at
    logout, or when its user is disabled or loses the ``admin`` role (checked against the user on every use). The
    browser holds the session id; only its SHA-256 is stored."""

    tenant_id: TenantId
    session_hash: str
    user_id: str
    created_at: Timestamp
    expires_at: Timestamp
    revoked_at: Timestamp | None = None

    def live(self, now: Timestamp) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class Event:
    """One step of a flow, as stored for analytics (see :mod:`pixie.events`)."""

    tenant_id: TenantId
    kind: str
    outcome: str
    created_at: Timestamp
    client_id: str | None = None
    error: str | None = None
    duration_ms: float | None = None
    correlation_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class EventData(Protocol):
    """What an event store writes: the fields of :class:`Event`, read-only. A stored :class:`Event` is one, and so
    is a :class:`pixie.events.FlowEvent` itself, which the event sink hands to the store as it is (building an
    ``Event`` per event was a third of what storing one cost)."""

    @property
    def tenant_id(self) -> TenantId: ...
    @property
    def kind(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def created_at(self) -> Timestamp: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def duration_ms(self) -> float | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def detail(self) -> dict[str, Any]: ...
