"""The authorization-code grant's state: pending authorization requests and issued codes."""

from __future__ import annotations

import sqlalchemy as sa

from pixie.storage.records import AuthorizationCode, AuthorizationRequest, CodeRedemption
from pixie.storage.sql.base import SqlStore, record_from_row, row_from_record
from pixie.storage.sql.tables import authorization_codes, authorization_requests
from pixie.types import TenantId, Timestamp

__all__ = ["CODE_RETENTION_SECONDS", "SqlAuthorizationRequestStore", "SqlCodeStore"]

CODE_RETENTION_SECONDS = 24 * 3600
"""How long a code is kept after it expired (and after its access token expired), so that a late replay is still
recognised as a replay and revokes what the code produced (RFC 9700 §4.2.4)."""

_requests = authorization_requests
_codes = authorization_codes


def _request_key(tenant_id: TenantId, request_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _requests.c.tenant_id == tenant_id, _requests.c.request_id == request_id


def _code_key(tenant_id: TenantId, code_hash: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _codes.c.tenant_id == tenant_id, _codes.c.code_hash == code_hash


class SqlAuthorizationRequestStore(SqlStore):
    async def create(self, request: AuthorizationRequest) -> None:
        async with self._write() as connection:
            await connection.execute(_requests.insert().values(row_from_record(request)))

    async def get(self, tenant_id: TenantId, request_id: str, now: Timestamp) -> AuthorizationRequest | None:
        """None when unknown or expired (``now >= expires_at``)."""
        async with self._read() as connection:
            result = await connection.execute(
                sa.select(_requests).where(*_request_key(tenant_id, request_id), _requests.c.expires_at > now)
            )
            row = result.mappings().first()
        return None if row is None else record_from_row(AuthorizationRequest, row)

    async def set_user(self, tenant_id: TenantId, request_id: str, user_id: str, auth_time: Timestamp) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                _requests.update()
                .where(*_request_key(tenant_id, request_id))
                .values(user_id=user_id, auth_time=auth_time)
            )
        return result.rowcount == 1

    async def delete(self, tenant_id: TenantId, request_id: str) -> bool:
        """True iff this call deleted the row: of concurrent completions of one request exactly one proceeds."""
        async with self._write() as connection:
            result = await connection.execute(_requests.delete().where(*_request_key(tenant_id, request_id)))
        return result.rowcount == 1

    async def purge_expired(self, now: Timestamp) -> int:
        """Housekeeping across all tenants."""
        async with self._write() as connection:
            result = await connection.execute(_requests.delete().where(_requests.c.expires_at <= now))
        return result.rowcount


class SqlCodeStore(SqlStore):
    async def create(self, code: AuthorizationCode) -> None:
        async with self._write() as connection:
            await connection.execute(_codes.insert().values(row_from_record(code)))

    async def redeem(self, tenant_id: TenantId, code_hash: str, now: Timestamp) -> CodeRedemption:
        """Consume the code with one conditional UPDATE, so the database picks the single winner.

        PostgreSQL: concurrent UPDATEs of the row queue on its lock and re-check the WHERE clause once the winner
        commits, finding ``consumed_at`` set. SQLite: writers are serialised by ``BEGIN IMMEDIATE``. The row is
        read afterwards, in the same transaction, only to say why a loser lost. Spec: RFC 9700 §4.2.4.
        """
        key = _code_key(tenant_id, code_hash)
        async with self._write() as connection:
            consumed = await connection.execute(
                _codes.update()
                .where(*key, _codes.c.consumed_at.is_(None), _codes.c.expires_at > now)
                .values(consumed_at=now)
            )
            result = await connection.execute(sa.select(_codes).where(*key))
            row = result.mappings().first()
        if row is None:
            return CodeRedemption(status="unknown", code=None)
        code = record_from_row(AuthorizationCode, row)
        if consumed.rowcount == 1:
            return CodeRedemption(status="redeemed", code=code)
        # A replay wins over expiry: what the code produced must still be revoked.
        return CodeRedemption(status="replayed" if code.consumed_at is not None else "expired", code=code)

    async def record_issued(
        self,
        tenant_id: TenantId,
        code_hash: str,
        *,
        family_id: str | None,
        access_jti: str,
        access_expires_at: Timestamp,
    ) -> None:
        async with self._write() as connection:
            await connection.execute(
                _codes.update()
                .where(*_code_key(tenant_id, code_hash))
                .values(family_id=family_id, access_jti=access_jti, access_expires_at=access_expires_at)
            )

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants, delete codes that expired more than :data:`CODE_RETENTION_SECONDS` ago and whose
        access token (if any) has expired too."""
        cutoff = now - CODE_RETENTION_SECONDS
        async with self._write() as connection:
            result = await connection.execute(
                _codes.delete().where(
                    _codes.c.expires_at <= cutoff,
                    sa.or_(_codes.c.access_expires_at.is_(None), _codes.c.access_expires_at <= now),
                )
            )
        return result.rowcount
