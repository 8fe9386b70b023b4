"""What a signed-in browser carries: SSO sessions and remembered consents (lean SQLite backend; semantics of
:mod:`pixie.storage.sql.sessions`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from pixie.storage.records import Consent, SsoSession, User
from pixie.storage.sqlite.codec import RecordCodec, split_row, strings_from_json, strings_to_json
from pixie.storage.sqlite.database import Database
from pixie.types import TenantId, Timestamp

__all__ = ["SqliteConsentStore", "SqliteSessionStore"]

_session = RecordCodec(SsoSession, "sso_sessions")
_consent = RecordCodec(Consent, "consents")
_user = RecordCodec(User, "users")

_GET_SESSION = _session.select("tenant_id = ? AND session_hash = ?")
# The client id is the first parameter: a NULL one matches no consent.
_GET_SIGNED_IN = (
    f"SELECT {_session.prefixed('s')}, {_user.prefixed('u')}, {_consent.prefixed('c')} "  # noqa: S608
    "FROM sso_sessions AS s "
    "LEFT JOIN users AS u ON u.tenant_id = s.tenant_id AND u.user_id = s.user_id "
    "LEFT JOIN consents AS c ON c.tenant_id = s.tenant_id AND c.user_id = s.user_id AND c.client_id = ? "
    "WHERE s.tenant_id = ? AND s.session_hash = ?"
)
# Forward only: a late, slower request must not shorten the idle window.
_TOUCH = "UPDATE sso_sessions SET last_seen_at = ? WHERE tenant_id = ? AND session_hash = ? AND last_seen_at < ?"
# Keeps the time of the first revocation.
_REVOKE = "UPDATE sso_sessions SET revoked_at = ? WHERE tenant_id = ? AND session_hash = ? AND revoked_at IS NULL"
_PURGE_SESSIONS = (
    "DELETE FROM sso_sessions WHERE absolute_expires_at <= ? OR last_seen_at + idle_ttl <= ? OR revoked_at IS NOT NULL"
)

_CONSENT_KEY = "tenant_id = ? AND user_id = ? AND client_id = ?"
_GET_CONSENT = _consent.select(_CONSENT_KEY)
_GET_CONSENTED_SCOPES = "SELECT scopes FROM consents WHERE tenant_id = ? AND user_id = ? AND client_id = ?"
_SAVE_CONSENT = (
    "INSERT INTO consents (tenant_id, user_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, user_id, client_id) "
    "DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at"
)
_REVOKE_CONSENT = "DELETE FROM consents WHERE tenant_id = ? AND user_id = ? AND client_id = ?"


def _signed_in(row: Sequence[object]) -> tuple[SsoSession, User | None, Consent | None]:
    session, user, consent = split_row(row, _session, _user, _consent)
    return _session.decode(session), _user.decode_joined(user), _consent.decode_joined(consent)


class SqliteSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, session: SsoSession) -> None:
        values = _session.encode(session)
        await self._db.write(lambda c: c.execute(_session.insert, values))

    async def get(self, tenant_id: TenantId, session_hash: str) -> SsoSession | None:
        """The session whatever its state (revoked or expired too): callers check :meth:`SsoSession.live`."""
        row = await self._db.read(lambda c: c.execute(_GET_SESSION, (tenant_id, session_hash)).fetchone())
        return _session.decode_optional(row)

    async def get_signed_in(
        self, tenant_id: TenantId, session_hash: str, client_id: str | None = None
    ) -> tuple[SsoSession, User | None, Consent | None] | None:
        """The session (whatever its state), its user and its consent to ``client_id``, joined in one statement."""
        parameters = (client_id, tenant_id, session_hash)
        row = await self._db.read(lambda c: c.execute(_GET_SIGNED_IN, parameters).fetchone())
        return None if row is None else _signed_in(row)

    async def touch(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Move ``last_seen_at`` forward only."""
        await self._db.write(lambda c: c.execute(_TOUCH, (now, tenant_id, session_hash, now)))

    async def revoke(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Keeps the time of the first revocation."""
        await self._db.write(lambda c: c.execute(_REVOKE, (now, tenant_id, session_hash)))

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants: absolute expiry passed, idle expiry passed, or revoked (on the worker thread)."""
        return await self._db.offload(lambda c: c.execute(_PURGE_SESSIONS, (now, now)).rowcount, write=True)


class SqliteConsentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, tenant_id: TenantId, user_id: str, client_id: str) -> Consent | None:
        row = await self._db.read(lambda c: c.execute(_GET_CONSENT, (tenant_id, user_id, client_id)).fetchone())
        return _consent.decode_optional(row)

    async def grant(
        self, tenant_id: TenantId, user_id: str, client_id: str, scopes: Sequence[str], now: Timestamp
    ) -> Consent:
        """Union with the scopes granted before, stored sorted; ``granted_at`` becomes ``now``. Read and upsert in
        one ``BEGIN IMMEDIATE`` transaction, so two concurrent grants both end up in the union."""

        def merge(connection: sqlite3.Connection) -> tuple[str, ...]:
            row = connection.execute(_GET_CONSENTED_SCOPES, (tenant_id, user_id, client_id)).fetchone()
            before = strings_from_json(row[0]) if row is not None else ()
            merged = tuple(sorted(set(before) | set(scopes)))
            connection.execute(_SAVE_CONSENT, (tenant_id, user_id, client_id, strings_to_json(merged), now))
            return merged

        merged = await self._db.write(merge)
        return Consent(tenant_id=tenant_id, user_id=user_id, client_id=client_id, scopes=merged, granted_at=now)

    async def revoke(self, tenant_id: TenantId, user_id: str, client_id: str) -> None:
        await self._db.write(lambda c: c.execute(_REVOKE_CONSENT, (tenant_id, user_id, client_id)))
