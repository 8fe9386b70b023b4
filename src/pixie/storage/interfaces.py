"""Storage ports: small typed Protocols, each method scoped by tenant and saying which part of Pixie uses it.

They exist so that SQLite and PostgreSQL meet one contract, checked by one test suite (``tests/storage``) — not to
make fakes. :mod:`pixie.server.app` is the one place that picks an implementation.

Atomicity is part of the contract: :meth:`CodeStore.redeem` and :meth:`RefreshTokenStore.rotate` each let exactly
one of any number of concurrent callers win, on every backend.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pixie.storage.records import (
    AdminSession,
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    CodeRedemption,
    Consent,
    DirectoryChange,
    EndedAccess,
    Event,
    EventData,
    PushedRequest,
    RefreshFamily,
    RefreshRotation,
    RefreshToken,
    RegistrationToken,
    Resource,
    SigningKey,
    SsoSession,
    Tenant,
    TenantSettings,
    User,
)
from pixie.types import KeyState, TenantId, Timestamp

__all__ = [
    "AccessTokenDenyList",
    "AdminSessionStore",
    "AlreadyExists",
    "AuthorizationRequestStore",
    "ClientStore",
    "CodeStore",
    "ConsentStore",
    "DirectoryChanges",
    "EventStore",
    "KeyStore",
    "ProofReplayStore",
    "PushedRequestStore",
    "RefreshTokenStore",
    "RegistrationTokenStore",
    "ResourceStore",
    "SessionStore",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "TenantStore",
    "UserStore",
]


class StorageError(Exception):
    """Base of storage failures that callers are expected to handle."""


class AlreadyExists(StorageError):
    """A record with the same key exists (duplicate tenant, client id or username)."""


class StorageUnavailable(StorageError):
    """The database cannot be reached. The HTTP edge answers ``temporarily_unavailable`` (503)."""


class TenantStore(Protocol):
    async def create(self, tenant: Tenant) -> None:
        """Raises :class:`AlreadyExists`. Used by: CLI ``tenants create``, admin API, ``serve`` (default tenant)."""

    async def create_many(self, tenants: Sequence[Tenant], keys: Sequence[SigningKey]) -> None:
        """Insert ``tenants`` and their first signing ``keys`` in one transaction: all or nothing (raises
        :class:`AlreadyExists` when any tenant exists, and writes none). Used by: CLI ``tenants create`` (bulk)."""

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        """Used by: tenant resolution on every request (cached by :mod:`pixie.tenancy`)."""

    async def list(self) -> list[Tenant]:
        """All tenants ordered by id. Used by: CLI ``tenants list``, admin API."""

    async def set_disabled(self, tenant_id: TenantId, disabled: bool) -> bool:
        """False when no such tenant. Used by: CLI ``tenants disable``, admin API."""

    async def update_settings(self, tenant_id: TenantId, settings: TenantSettings) -> bool:
        """False when no such tenant. Used by: admin API."""

    async def set_display_name(self, tenant_id: TenantId, display_name: str) -> bool:
        """False when no such tenant. Used by: CLI ``tenants settings --display-name``."""


class ClientStore(Protocol):
    async def create(self, client: Client) -> None:
        """Raises :class:`AlreadyExists` for a duplicate (tenant, client_id). Used by: CLI ``clients create``."""

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        """Used by: authorize (validation before login), token (client authentication), revoke, introspect."""

    async def list(self, tenant_id: TenantId) -> list[Client]:
        """Ordered by client_id. Used by: admin API, CORS origin derivation."""

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        """False when no such client. Used by: admin API."""

    async def update(self, client: Client) -> bool:
        """Store every field of ``client`` over the client of the same tenant and ``client_id``; False when there is
        none. Used by: the server's start-up (the dashboard's own client follows the server's address), CLI
        ``clients update`` and ``clients rotate-secret``."""

    async def touch(self, tenant_id: TenantId, client_id: str, now: Timestamp, *, every: float = 3600.0) -> None:
        """Record that the client received tokens at ``now``, unless that was already recorded less than ``every``
        seconds before (a conditional UPDATE: one write per client per window, whatever the traffic).
        Used by: the token endpoint, for self-registered clients."""

    async def list_idle_registered(
        self, tenant_id: TenantId, before: Timestamp, *, limit: int = 500
    ) -> builtins.list[Client]:
        """The tenant's self-registered clients (with a registration access token) last used, or else created,
        before ``before``, at most ``limit``. Used by: housekeeping."""

    async def end_access(self, tenant_id: TenantId, client_id: str, reason: str, now: Timestamp) -> EndedAccess:
        """In one transaction: revoke every live refresh-token family of the client (``reason`` recorded on each),
        deny-list the live access tokens recorded on them and on its codes, and drop its unredeemed codes and pending
        authorization requests. Used by: CLI ``clients disable``, ``clients update`` (a scope taken away), admin API
        (disable)."""

    async def delete(self, tenant_id: TenantId, client_id: str, now: Timestamp) -> EndedAccess | None:
        """:meth:`end_access`, the consents given to the client and the client itself, in one transaction (a client
        registered later under the same id starts with nothing). None when there is no such client.
        Used by: CLI ``clients delete``."""


class ResourceStore(Protocol):
    async def create(self, resource: Resource) -> None:
        """Raises :class:`AlreadyExists` for a duplicate (tenant, identifier). Used by: CLI ``resources create``,
        admin API."""

    async def get(self, tenant_id: TenantId, identifier: str) -> Resource | None:
        """Used by: CLI ``resources show``, admin API."""

    async def get_many(self, tenant_id: TenantId, identifiers: Sequence[str]) -> builtins.list[Resource]:
        """The resources among ``identifiers`` that exist (unknown ones are left out), each once. Used by: authorize
        and token (RFC 8707 ``resource``)."""

    async def list(self, tenant_id: TenantId) -> builtins.list[Resource]:
        """Ordered by identifier. Used by: CLI ``resources list``, admin API."""

    async def update(self, resource: Resource) -> bool:
        """Store ``name``, ``scopes`` and ``access_token_ttl`` over the resource of the same tenant and identifier;
        False when there is none. Used by: CLI ``resources update``, admin API."""

    async def delete(self, tenant_id: TenantId, identifier: str) -> bool:
        """False when no such resource. Tokens already issued keep their ``aud``; no new ones are issued for it.
        Used by: CLI ``resources delete``, admin API."""


class UserStore(Protocol):
    async def create(self, user: User) -> None:
        """Raises :class:`AlreadyExists` for a duplicate (tenant, username). Used by: CLI ``users create``."""

    async def get(self, tenant_id: TenantId, user_id: str) -> User | None:
        """Used by: SSO session resumption, token issuance (``sub``)."""

    async def get_by_username(self, tenant_id: TenantId, username: str) -> User | None:
        """Used by: login."""

    async def list(self, tenant_id: TenantId) -> list[User]:
        """Ordered by username. Used by: admin API."""

    async def set_password_hash(self, tenant_id: TenantId, user_id: str, password_hash: str) -> bool:
        """Replace a hash (Argon2 parameter upgrade on login). Used by: login."""

    async def set_profile(self, user: User) -> bool:
        """Replace the user's profile claims (name, given_name, family_name, email, email_verified) with ``user``'s;
        False when no such user. Used by: CLI ``users update``, admin API."""

    async def set_disabled(self, tenant_id: TenantId, user_id: str, disabled: bool) -> bool:
        """False when no such user. A disabled user cannot sign in and their SSO sessions stop counting.
        Used by: admin API, CLI ``users disable|enable``."""

    async def end_access(self, tenant_id: TenantId, user_id: str, reason: str, now: Timestamp) -> EndedAccess:
        """In one transaction: revoke every live refresh-token family (``reason`` recorded on each), SSO session and
        dashboard session of the user, deny-list the live access tokens recorded on those families and on the user's
        codes, and drop the user's unredeemed codes and pending authorization requests. Used by: CLI ``users
        disable``, ``users delete``, ``users set-password``, admin API (disable)."""

    async def delete(self, tenant_id: TenantId, user_id: str, now: Timestamp) -> EndedAccess | None:
        """:meth:`end_access`, the user's consents and the user, in one transaction. None when there is no such
        user. Used by: CLI ``users delete``."""


class SessionStore(Protocol):
    async def create(self, session: SsoSession) -> None:
        """Used by: login (authorization-code grant)."""

    async def get(self, tenant_id: TenantId, session_hash: str) -> SsoSession | None:
        """The session whatever its state; callers check :meth:`SsoSession.live`. Used by: tests."""

    async def get_signed_in(
        self, tenant_id: TenantId, session_hash: str, client_id: str | None = None
    ) -> tuple[SsoSession, User | None, Consent | None] | None:
        """:meth:`get`, the session's user (None when gone) and, given ``client_id``, that user's consent to the
        client (None when none), in one read: one round trip where three were. Used by: authorize (SSO), logout, the
        consent page."""

    async def touch(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Move ``last_seen_at`` forward (idle expiry). Used by: authorize (SSO)."""

    async def revoke(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Used by: logout."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Delete sessions past their absolute or idle expiry, and revoked ones. Used by: housekeeping."""


class ConsentStore(Protocol):
    async def get(self, tenant_id: TenantId, user_id: str, client_id: str) -> Consent | None:
        """Used by: authorize (skip consent for a remembered subset of scopes)."""

    async def grant(
        self, tenant_id: TenantId, user_id: str, client_id: str, scopes: Sequence[str], now: Timestamp
    ) -> Consent:
        """Adds ``scopes`` to what was granted before (union) and returns the result. Used by: consent."""

    async def revoke(self, tenant_id: TenantId, user_id: str, client_id: str) -> None:
        """Used by: admin API, user self-service."""


class AuthorizationRequestStore(Protocol):
    async def create(self, request: AuthorizationRequest) -> None:
        """Used by: authorize (after validation, before login/consent)."""

    async def get(self, tenant_id: TenantId, request_id: str, now: Timestamp) -> AuthorizationRequest | None:
        """None when unknown or expired. Used by: login, consent."""

    async def set_user(self, tenant_id: TenantId, request_id: str, user_id: str, auth_time: Timestamp) -> bool:
        """Record who logged in for this request. Used by: login."""

    async def delete(self, tenant_id: TenantId, request_id: str) -> bool:
        """True iff this call deleted it (so a request completes once). Used by: consent, code issuance."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Used by: housekeeping."""


class CodeStore(Protocol):
    """Codes are sealed, not stored, until they are redeemed (:mod:`pixie.tokens.codes`)."""

    async def get(self, tenant_id: TenantId, code_hash: str) -> AuthorizationCode | None:
        """A redeemed code's row. Used by: authorization-code grant (what a replay must revoke)."""

    async def redeem(
        self, code: AuthorizationCode, family: RefreshFamily | None = None, first: RefreshToken | None = None
    ) -> CodeRedemption:
        """Record ``code`` (``consumed_at`` and what it produced set) and start ``family`` with ``first``, in one
        atomic write, unless the code was redeemed before (``replayed``, with the stored row: of any number of
        concurrent callers exactly one gets ``redeemed``) or its user is gone or disabled (``unknown``).
        Used by: authorization-code grant (token exchange)."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Delete codes expired long enough that a replay no longer matters. Used by: housekeeping."""


class RefreshTokenStore(Protocol):
    async def create_family(self, family: RefreshFamily, first: RefreshToken) -> None:
        """Store a family and its first token, in one transaction. (A code exchange starts its family with the
        code's redemption instead: :meth:`CodeStore.redeem`.) Used by: tests and tools that seed families."""

    async def get_family(self, tenant_id: TenantId, family_id: str) -> RefreshFamily | None:
        """Used by: introspection, revocation."""

    async def get(self, tenant_id: TenantId, token_hash: str) -> tuple[RefreshToken, RefreshFamily] | None:
        """Used by: revocation, introspection."""

    async def get_with_user(
        self, tenant_id: TenantId, token_hash: str
    ) -> tuple[RefreshToken, RefreshFamily, User | None] | None:
        """:meth:`get` and the family's user (None when the family has none or the user is gone) in one read: one
        round trip where two were. Used by: refresh-token grant."""

    async def rotate(
        self,
        tenant_id: TenantId,
        token_hash: str,
        successor: RefreshToken,
        now: Timestamp,
        *,
        retry_response: bytes | None = None,
    ) -> RefreshRotation:
        """Atomically mark ``token_hash`` used and insert ``successor``; of any number of concurrent callers
        exactly one gets ``rotated``. Fails (``revoked``/``expired``/``unknown``) without writing when the family is
        revoked or past its absolute lifetime, or the token is unknown or idle-expired. Used by: refresh grant."""

    async def revoke_family(self, tenant_id: TenantId, family_id: str, reason: str, now: Timestamp) -> bool:
        """Revoke every token of the family and deny-list the live access tokens recorded on it.
        True iff this call revoked it. Used by: refresh grant (reuse), code replay, revocation, logout."""

    async def revoke_session(self, tenant_id: TenantId, sid: str, reason: str, now: Timestamp) -> int:
        """Revoke every live family issued from the SSO session ``sid`` (each as :meth:`revoke_family`); the number
        revoked. Used by: RP-Initiated Logout (``end_session``), logout."""

    async def purge_expired(self, now: Timestamp, *, revoked_retention: float = 86400.0) -> int:
        """Delete families past their absolute lifetime, and families revoked more than ``revoked_retention``
        seconds ago, with their tokens; returns the number of families. Used by: housekeeping."""


class AccessTokenDenyList(Protocol):
    async def deny(self, tenant_id: TenantId, jti: str, expires_at: Timestamp) -> None:
        """Idempotent. Used by: revocation of an access token."""

    async def is_denied(self, tenant_id: TenantId, jti: str) -> bool:
        """Used by: introspection."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Used by: housekeeping."""


class PushedRequestStore(Protocol):
    async def create(self, request: PushedRequest) -> None:
        """Store a validated pushed request. Used by: the PAR endpoint."""

    async def take(self, tenant_id: TenantId, uri_hash: str, now: Timestamp) -> PushedRequest | None:
        """Remove and return the request if it is there and not expired: each ``request_uri`` is used once.
        Used by: ``/authorize``."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants (bulk), delete expired requests. Used by: housekeeping."""


class ProofReplayStore(Protocol):
    async def first_use(self, tenant_id: TenantId, replay_key: str, expires_at: Timestamp) -> bool:
        """Record a DPoP proof until ``expires_at``; True iff this call recorded it, False if it was already
        there (a replay, on this instance or any other). Used by: the token endpoint's DPoP check."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants (bulk), forget proofs whose window has passed. Used by: housekeeping."""


class DirectoryChanges(Protocol):
    """The feed of tenant, client and key changes that triggers write (migration 0010). Used by: each server's
    :class:`~pixie.storage.cache.DirectoryWatch`, and housekeeping."""

    async def latest(self) -> int:
        """The highest change id written so far (0 when none): where a new watcher starts."""

    async def after(self, after: int, *, limit: int = 1000) -> builtins.list[DirectoryChange]:
        """Up to ``limit`` changes with an id above ``after``, in id order."""

    async def purge_before(self, before: Timestamp) -> int:
        """Across all tenants (bulk), delete changes written before ``before``; how many. Used by: housekeeping."""


class KeyStore(Protocol):
    async def add(self, key: SigningKey) -> None:
        """Used by: key ring (first key, rotation)."""

    async def list(self, tenant_id: TenantId) -> list[SigningKey]:
        """Every key of the tenant, oldest first. Used by: key ring, JWKS, CLI ``keys list``."""

    async def set_state(
        self, tenant_id: TenantId, kid: str, state: KeyState, now: Timestamp, *, expected: KeyState | None = None
    ) -> bool:
        """Moves ``activated_at`` / ``retired_at`` with the state. With ``expected``, a compare-and-set: only a key
        currently in that state changes (False otherwise), so of concurrent rotations exactly one promotes the next
        key. Used by: key ring rotation."""

    async def list_all(self) -> builtins.list[SigningKey]:
        """Every key of every tenant, ordered by tenant, then oldest first. Used by: ``pixie secret rotate``."""

    async def fingerprints(self) -> dict[str | None, int]:
        """How many keys, across all tenants, each master-key fingerprint sealed (None: keys stored before
        fingerprints were recorded). Used by: the master-key check of every command that opens the database."""

    async def reseal(self, keys: Sequence[SigningKey]) -> None:
        """Store each key's ``private_key_encrypted`` and ``sealed_by`` (found by tenant and ``kid``), all in one
        transaction: all or nothing. Used by: ``pixie secret rotate``, recording the fingerprint of older keys."""


class AdminSessionStore(Protocol):
    async def create(self, session: AdminSession) -> None:
        """Used by: the dashboard's sign-in callback."""

    async def get(self, tenant_id: TenantId, session_hash: str) -> tuple[AdminSession, User | None] | None:
        """The session whatever its state, and its user (None when gone), in one read: the caller checks
        :meth:`AdminSession.live`, that the user is enabled and still holds the ``admin`` role.
        Used by: every dashboard request."""

    async def revoke(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> bool:
        """True iff this call revoked it (keeps the time of the first revocation). Used by: the dashboard's logout."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Delete expired and revoked sessions, across tenants. Used by: housekeeping."""


class EventStore(Protocol):
    async def append(self, events: Sequence[EventData]) -> None:
        """One batched write. Used by: the database event sink."""

    async def query(
        self, tenant_id: TenantId, since: Timestamp, until: Timestamp, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events in ``[since, until)`` ordered by time. Used by: dashboard, ``pixie stats``."""

    async def purge_before(self, before: Timestamp) -> int:
        """Across all tenants, delete the stored batches whose every event is older than ``before``; returns how
        many events went. Used by: housekeeping (the events retention)."""


class RegistrationTokenStore(Protocol):
    async def create(self, token: RegistrationToken) -> None:
        """Used by: CLI ``registration-tokens create``."""

    async def get(self, tenant_id: TenantId, token_id: str) -> RegistrationToken | None:
        """Used by: the registration endpoint (checking an initial access token)."""

    async def list(self, tenant_id: TenantId) -> builtins.list[RegistrationToken]:
        """Oldest first. Used by: CLI ``registration-tokens list``."""

    async def delete(self, tenant_id: TenantId, token_id: str) -> bool:
        """False when there is no such token. Used by: CLI ``registration-tokens revoke``."""

    async def purge_expired(self, now: Timestamp) -> int:
        """Used by: housekeeping."""


@dataclass(frozen=True)
class Storage:
    """Every store of one backend, built by the composition root."""

    tenants: TenantStore
    clients: ClientStore
    users: UserStore
    sessions: SessionStore
    consents: ConsentStore
    requests: AuthorizationRequestStore
    codes: CodeStore
    refresh: RefreshTokenStore
    denylist: AccessTokenDenyList
    proofs: ProofReplayStore
    pushed: PushedRequestStore
    keys: KeyStore
    events: EventStore
    admin_sessions: AdminSessionStore
    registration_tokens: RegistrationTokenStore
    resources: ResourceStore
    changes: DirectoryChanges
