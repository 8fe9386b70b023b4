"""The dashboard's administrator sessions, kept server-side so that they end when they should."""

from __future__ import annotations

from pixie.storage.records import AdminSession, User
from pixie.storage.statements.codec import RecordCodec, split_row
from pixie.storage.statements.dialect import Dialect, Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["SqlAdminSessionStore"]

SESSION = RecordCodec(AdminSession, "admin_sessions")
USER = RecordCodec(User, "users")


def _with_user(dialect: Dialect) -> str:
    owner = dialect.join_by_key("users", USER.columns, "u", "u.tenant_id = a.tenant_id AND u.user_id = a.user_id")
    return (
        f"SELECT {SESSION.prefixed('a')}, {USER.prefixed('u')} FROM admin_sessions AS a {owner} "  # noqa: S608
        "WHERE a.tenant_id = :tenant_id AND a.session_hash = :session_hash"
    )


GET_WITH_USER = Statement(_with_user)
# Keeps the time of the first revocation.
REVOKE = Statement(
    "UPDATE admin_sessions SET revoked_at = :now "
    "WHERE tenant_id = :tenant_id AND session_hash = :session_hash AND revoked_at IS NULL"
)
PURGE = Statement("DELETE FROM admin_sessions WHERE expires_at <= :now OR revoked_at IS NOT NULL")


class SqlAdminSessionStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, session: AdminSession) -> None:
        await self._db.execute(SESSION.insert, SESSION.values(session))

    async def get(self, tenant_id: TenantId, session_hash: str) -> tuple[AdminSession, User | None] | None:
        """The session (whatever its state) and its user, joined in one statement."""
        row = await self._db.fetch_one(GET_WITH_USER, {"tenant_id": tenant_id, "session_hash": session_hash})
        if row is None:
            return None
        session, user = split_row(row, SESSION, USER)
        return SESSION.decode(session), USER.decode_joined(user)

    async def revoke(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> bool:
        params = {"tenant_id": tenant_id, "session_hash": session_hash, "now": now}
        return await self._db.execute(REVOKE, params) == 1

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants (bulk): expired or revoked."""
        return await self._db.execute(PURGE, {"now": now}, bulk=True)
