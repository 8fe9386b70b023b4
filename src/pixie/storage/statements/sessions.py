"""What a signed-in browser carries: SSO sessions and remembered consents."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from pixie.storage.records import Consent, SsoSession, User
from pixie.storage.statements.codec import RecordCodec, Row, split_row
from pixie.storage.statements.dialect import Dialect, Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["SqlConsentStore", "SqlSessionStore"]

SESSION = RecordCodec(SsoSession, "sso_sessions")
CONSENT = RecordCodec(Consent, "consents")
USER = RecordCodec(User, "users")

GET_SESSION = SESSION.select("tenant_id = :tenant_id AND session_hash = :session_hash")


def _signed_in(dialect: Dialect) -> str:
    # A NULL :client_id matches no consent. Column names come from code; values are always bound.
    user = dialect.join_by_key("users", USER.columns, "u", "u.tenant_id = s.tenant_id AND u.user_id = s.user_id")
    given = "c.tenant_id = s.tenant_id AND c.user_id = s.user_id AND c.client_id = :client_id"
    consented = dialect.join_by_key("consents", CONSENT.columns, "c", given)
    return (
        f"SELECT {SESSION.prefixed('s')}, {USER.prefixed('u')}, {CONSENT.prefixed('c')} "  # noqa: S608
        f"FROM sso_sessions AS s {user} {consented} "
        "WHERE s.tenant_id = :tenant_id AND s.session_hash = :session_hash"
    )


GET_SIGNED_IN = Statement(_signed_in)
# Forward only: a late, slower request must not shorten the idle window.
TOUCH = Statement(
    "UPDATE sso_sessions SET last_seen_at = :now "
    "WHERE tenant_id = :tenant_id AND session_hash = :session_hash AND last_seen_at < :now"
)
# Keeps the time of the first revocation.
REVOKE_SESSION = Statement(
    "UPDATE sso_sessions SET revoked_at = :now "
    "WHERE tenant_id = :tenant_id AND session_hash = :session_hash AND revoked_at IS NULL"
)
PURGE_SESSIONS = Statement(
    "DELETE FROM sso_sessions "
    "WHERE absolute_expires_at <= :now OR last_seen_at + idle_ttl <= :now OR revoked_at IS NOT NULL"
)

GET_CONSENT = CONSENT.select("tenant_id = :tenant_id AND user_id = :user_id AND client_id = :client_id")
REVOKE_CONSENT = Statement(
    "DELETE FROM consents WHERE tenant_id = :tenant_id AND user_id = :user_id AND client_id = :client_id"
)


def _split_signed_in(row: Row) -> tuple[SsoSession, User | None, Consent | None]:
    session, user, given = split_row(row, SESSION, USER, CONSENT)
    return SESSION.decode(session), USER.decode_joined(user), CONSENT.decode_joined(given)


class SqlSessionStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, session: SsoSession) -> None:
        await self._db.execute(SESSION.insert, SESSION.values(session))

    async def get(self, tenant_id: TenantId, session_hash: str) -> SsoSession | None:
        """The session whatever its state (revoked or expired too): callers check :meth:`SsoSession.live`."""
        row = await self._db.fetch_one(GET_SESSION, {"tenant_id": tenant_id, "session_hash": session_hash})
        return SESSION.decode_optional(row)

    async def get_signed_in(
        self, tenant_id: TenantId, session_hash: str, client_id: str | None = None
    ) -> tuple[SsoSession, User | None, Consent | None] | None:
        """The session (whatever its state), its user and its consent to ``client_id``, joined in one statement."""
        params = {"tenant_id": tenant_id, "session_hash": session_hash, "client_id": client_id}
        row = await self._db.fetch_one(GET_SIGNED_IN, params)
        return None if row is None else _split_signed_in(row)

    async def touch(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Move ``last_seen_at`` forward only."""
        await self._db.execute(TOUCH, {"tenant_id": tenant_id, "session_hash": session_hash, "now": now})

    async def revoke(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Keeps the time of the first revocation."""
        await self._db.execute(REVOKE_SESSION, {"tenant_id": tenant_id, "session_hash": session_hash, "now": now})

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants (bulk): absolute expiry passed, idle expiry passed, or revoked."""
        return await self._db.execute(PURGE_SESSIONS, {"now": now}, bulk=True)


class SqlConsentStore(abc.ABC):
    """Reading and revoking consents; :meth:`grant` merges scopes atomically, which each driver does its own way."""

    def __init__(self, db: Driver) -> None:
        self._db = db

    async def get(self, tenant_id: TenantId, user_id: str, client_id: str) -> Consent | None:
        params = {"tenant_id": tenant_id, "user_id": user_id, "client_id": client_id}
        return CONSENT.decode_optional(await self._db.fetch_one(GET_CONSENT, params))

    @abc.abstractmethod
    async def grant(
        self, tenant_id: TenantId, user_id: str, client_id: str, scopes: Sequence[str], now: Timestamp
    ) -> Consent:
        """Union with the scopes granted before, stored sorted by code point; ``granted_at`` becomes ``now``. Two
        concurrent grants (first or not) must both end up in the union."""

    async def revoke(self, tenant_id: TenantId, user_id: str, client_id: str) -> None:
        params = {"tenant_id": tenant_id, "user_id": user_id, "client_id": client_id}
        await self._db.execute(REVOKE_CONSENT, params)
