"""What a signed-in browser carries: SSO sessions and remembered consents (PostgreSQL backend; semantics of
:mod:`pixie.storage.sql.sessions`)."""

from __future__ import annotations

from collections.abc import Sequence

from pixie.storage.pg.codec import RecordCodec, split_row, strings_from_json, strings_to_json
from pixie.storage.pg.database import Database
from pixie.storage.records import Consent, SsoSession, User
from pixie.types import TenantId, Timestamp

__all__ = ["PgConsentStore", "PgSessionStore"]

_session = RecordCodec(SsoSession, "sso_sessions")
_consent = RecordCodec(Consent, "consents")
_user = RecordCodec(User, "users")

_GET_SESSION = _session.select("tenant_id = $1 AND session_hash = $2")
# A NULL client id ($3) matches no consent.
_GET_SIGNED_IN = (
    f"SELECT {_session.prefixed('s')}, {_user.prefixed('u')}, {_consent.prefixed('c')} "  # noqa: S608
    "FROM sso_sessions AS s "
    f"LEFT JOIN {_user.lateral('u', 'tenant_id = s.tenant_id AND user_id = s.user_id')} ON TRUE "
    f"LEFT JOIN {_consent.lateral('c', 'tenant_id = s.tenant_id AND user_id = s.user_id AND client_id = $3')} ON TRUE "
    "WHERE s.tenant_id = $1 AND s.session_hash = $2"
)
# Forward only: a late, slower request must not shorten the idle window.
_TOUCH = "UPDATE sso_sessions SET last_seen_at = $3 WHERE tenant_id = $1 AND session_hash = $2 AND last_seen_at < $3"
# Keeps the time of the first revocation.
_REVOKE = "UPDATE sso_sessions SET revoked_at = $3 WHERE tenant_id = $1 AND session_hash = $2 AND revoked_at IS NULL"
_PURGE_SESSIONS = (
    "DELETE FROM sso_sessions "
    "WHERE absolute_expires_at <= $1 OR last_seen_at + idle_ttl <= $1 OR revoked_at IS NOT NULL"
)

_GET_CONSENT = _consent.select("tenant_id = $1 AND user_id = $2 AND client_id = $3")
# One upsert: a first grant inserts the (sorted) scopes; a later one, or a concurrent first one that lost the insert
# race, merges under the row lock ON CONFLICT takes. The union is sorted by code point (COLLATE "C", as Python's
# sorted) and written by json_agg in json.dumps' format.
_GRANT = (
    "INSERT INTO consents AS c (tenant_id, user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (tenant_id, user_id, client_id) DO UPDATE SET "
    "scopes = (SELECT COALESCE(json_agg(u.scope ORDER BY u.scope COLLATE \"C\"), '[]'::json) FROM ("
    "SELECT json_array_elements_text(c.scopes) UNION SELECT json_array_elements_text(EXCLUDED.scopes)"
    ") AS u(scope)), "
    "granted_at = EXCLUDED.granted_at "
    "RETURNING scopes"
)
_REVOKE_CONSENT = "DELETE FROM consents WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3"


class PgSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, session: SsoSession) -> None:
        await self._db.execute(_session.insert, *_session.encode(session))

    async def get(self, tenant_id: TenantId, session_hash: str) -> SsoSession | None:
        """The session whatever its state (revoked or expired too): callers check :meth:`SsoSession.live`."""
        return _session.decode_optional(await self._db.fetchrow(_GET_SESSION, tenant_id, session_hash))

    async def get_signed_in(
        self, tenant_id: TenantId, session_hash: str, client_id: str | None = None
    ) -> tuple[SsoSession, User | None, Consent | None] | None:
        """The session (whatever its state), its user and its consent to ``client_id``, joined in one statement."""
        row = await self._db.fetchrow(_GET_SIGNED_IN, tenant_id, session_hash, client_id)
        if row is None:
            return None
        session, user, consent = split_row(row, _session, _user, _consent)
        return _session.decode(session), _user.decode_joined(user), _consent.decode_joined(consent)

    async def touch(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Move ``last_seen_at`` forward only."""
        await self._db.execute(_TOUCH, tenant_id, session_hash, now)

    async def revoke(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Keeps the time of the first revocation."""
        await self._db.execute(_REVOKE, tenant_id, session_hash, now)

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants: absolute expiry passed, idle expiry passed, or revoked."""
        return await self._db.execute(_PURGE_SESSIONS, now)


class PgConsentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, tenant_id: TenantId, user_id: str, client_id: str) -> Consent | None:
        return _consent.decode_optional(await self._db.fetchrow(_GET_CONSENT, tenant_id, user_id, client_id))

    async def grant(
        self, tenant_id: TenantId, user_id: str, client_id: str, scopes: Sequence[str], now: Timestamp
    ) -> Consent:
        """Union with the scopes granted before, stored sorted; ``granted_at`` becomes ``now``. One statement, so
        two concurrent grants (first or not) both end up in the union."""
        requested = strings_to_json(tuple(sorted(set(scopes))))
        row = await self._db.write_row(_GRANT, tenant_id, user_id, client_id, requested, now)
        assert row is not None  # an upsert always returns its row
        merged = strings_from_json(row[0])
        return Consent(tenant_id=tenant_id, user_id=user_id, client_id=client_id, scopes=merged, granted_at=now)

    async def revoke(self, tenant_id: TenantId, user_id: str, client_id: str) -> None:
        await self._db.execute(_REVOKE_CONSENT, tenant_id, user_id, client_id)
