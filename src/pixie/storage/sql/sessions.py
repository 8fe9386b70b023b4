"""What a signed-in browser carries: SSO sessions and remembered consents."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from pixie.storage.records import Consent, SsoSession, User
from pixie.storage.sql.base import SqlStore, insert_ignoring_duplicates, record_from_row, row_from_record
from pixie.storage.sql.tables import consents, sso_sessions, users
from pixie.types import TenantId, Timestamp

__all__ = ["SqlConsentStore", "SqlSessionStore"]


def _session_key(tenant_id: TenantId, session_hash: str) -> tuple[sa.ColumnElement[bool], ...]:
    return sso_sessions.c.tenant_id == tenant_id, sso_sessions.c.session_hash == session_hash


class SqlSessionStore(SqlStore):
    async def create(self, session: SsoSession) -> None:
        async with self._write() as connection:
            await connection.execute(sso_sessions.insert().values(row_from_record(session)))

    async def get(self, tenant_id: TenantId, session_hash: str) -> SsoSession | None:
        """The session whatever its state (revoked or expired too): callers check :meth:`SsoSession.live`."""
        async with self._read() as connection:
            result = await connection.execute(sa.select(sso_sessions).where(*_session_key(tenant_id, session_hash)))
            row = result.mappings().first()
        return None if row is None else record_from_row(SsoSession, row)

    async def get_signed_in(
        self, tenant_id: TenantId, session_hash: str, client_id: str | None = None
    ) -> tuple[SsoSession, User | None, Consent | None] | None:
        """Up to three reads in one read transaction (this backend is for tools and tests; the served ones join)."""
        async with self._read() as connection:
            result = await connection.execute(sa.select(sso_sessions).where(*_session_key(tenant_id, session_hash)))
            row = result.mappings().first()
            if row is None:
                return None
            session = record_from_row(SsoSession, row)
            result = await connection.execute(
                sa.select(users).where(users.c.tenant_id == tenant_id, users.c.user_id == session.user_id)
            )
            user_row = result.mappings().first()
            consent_row = None
            if client_id is not None:
                result = await connection.execute(
                    sa.select(consents).where(
                        consents.c.tenant_id == tenant_id,
                        consents.c.user_id == session.user_id,
                        consents.c.client_id == client_id,
                    )
                )
                consent_row = result.mappings().first()
        user = None if user_row is None else record_from_row(User, user_row)
        return session, user, None if consent_row is None else record_from_row(Consent, consent_row)

    async def touch(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Move ``last_seen_at`` forward only: a late, slower request must not shorten the idle window."""
        async with self._write() as connection:
            await connection.execute(
                sso_sessions.update()
                .where(*_session_key(tenant_id, session_hash), sso_sessions.c.last_seen_at < now)
                .values(last_seen_at=now)
            )

    async def revoke(self, tenant_id: TenantId, session_hash: str, now: Timestamp) -> None:
        """Keeps the time of the first revocation."""
        async with self._write() as connection:
            await connection.execute(
                sso_sessions.update()
                .where(*_session_key(tenant_id, session_hash), sso_sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants: absolute expiry passed, idle expiry passed, or revoked."""
        c = sso_sessions.c
        async with self._write() as connection:
            result = await connection.execute(
                sso_sessions.delete().where(
                    sa.or_(c.absolute_expires_at <= now, c.last_seen_at + c.idle_ttl <= now, c.revoked_at.is_not(None))
                )
            )
        return result.rowcount


def _consent_key(tenant_id: TenantId, user_id: str, client_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        consents.c.tenant_id == tenant_id,
        consents.c.user_id == user_id,
        consents.c.client_id == client_id,
    )


class SqlConsentStore(SqlStore):
    async def get(self, tenant_id: TenantId, user_id: str, client_id: str) -> Consent | None:
        async with self._read() as connection:
            result = await connection.execute(sa.select(consents).where(*_consent_key(tenant_id, user_id, client_id)))
            row = result.mappings().first()
        return None if row is None else record_from_row(Consent, row)

    async def grant(
        self, tenant_id: TenantId, user_id: str, client_id: str, scopes: Sequence[str], now: Timestamp
    ) -> Consent:
        """Union with the scopes granted before, stored sorted; ``granted_at`` becomes ``now``."""
        key = _consent_key(tenant_id, user_id, client_id)
        async with self._write() as connection:
            # Create the row if missing, then lock it and merge: two concurrent first grants (PostgreSQL) both
            # end up in the union instead of one failing on the primary key or overwriting the other.
            await connection.execute(
                insert_ignoring_duplicates(self._dialect, consents).values(
                    tenant_id=tenant_id, user_id=user_id, client_id=client_id, scopes=(), granted_at=now
                )
            )
            result = await connection.execute(sa.select(consents.c.scopes).where(*key).with_for_update())
            merged = tuple(sorted(set(result.scalar_one()) | set(scopes)))
            await connection.execute(consents.update().where(*key).values(scopes=merged, granted_at=now))
        return Consent(tenant_id=tenant_id, user_id=user_id, client_id=client_id, scopes=merged, granted_at=now)

    async def revoke(self, tenant_id: TenantId, user_id: str, client_id: str) -> None:
        async with self._write() as connection:
            await connection.execute(consents.delete().where(*_consent_key(tenant_id, user_id, client_id)))
