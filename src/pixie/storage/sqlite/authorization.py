"""The authorization-code grant's state: pending authorization requests and issued codes (lean SQLite backend;
semantics of :mod:`pixie.storage.sql.authorization`)."""

from __future__ import annotations

import sqlite3

from pixie.storage.records import AuthorizationCode, AuthorizationRequest, CodeRedemption
from pixie.storage.sql.authorization import CODE_RETENTION_SECONDS
from pixie.storage.sqlite.codec import RecordCodec
from pixie.storage.sqlite.database import Database
from pixie.types import TenantId, Timestamp

__all__ = ["SqliteAuthorizationRequestStore", "SqliteCodeStore"]

_request = RecordCodec(AuthorizationRequest, "authorization_requests")
_code = RecordCodec(AuthorizationCode, "authorization_codes")

_GET_REQUEST = _request.select("tenant_id = ? AND request_id = ? AND expires_at > ?")
_SET_USER = "UPDATE authorization_requests SET user_id = ?, auth_time = ? WHERE tenant_id = ? AND request_id = ?"
_DELETE_REQUEST = "DELETE FROM authorization_requests WHERE tenant_id = ? AND request_id = ?"
_PURGE_REQUESTS = "DELETE FROM authorization_requests WHERE expires_at <= ?"

# Column names come from code; values are always bound.
_CONSUME = (
    "UPDATE authorization_codes SET consumed_at = ? "  # noqa: S608
    "WHERE tenant_id = ? AND code_hash = ? AND consumed_at IS NULL AND expires_at > ? "
    f"RETURNING {_code.columns}"
)
_GET_CODE = _code.select("tenant_id = ? AND code_hash = ?")
RECORD_ISSUED = (
    "UPDATE authorization_codes SET family_id = ?, access_jti = ?, access_expires_at = ? "
    "WHERE tenant_id = ? AND code_hash = ?"
)
_PURGE_CODES = (
    "DELETE FROM authorization_codes WHERE expires_at <= ? AND (access_expires_at IS NULL OR access_expires_at <= ?)"
)


class SqliteAuthorizationRequestStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, request: AuthorizationRequest) -> None:
        values = _request.encode(request)
        await self._db.write(lambda c: c.execute(_request.insert, values))

    async def get(self, tenant_id: TenantId, request_id: str, now: Timestamp) -> AuthorizationRequest | None:
        """None when unknown or expired (``now >= expires_at``)."""
        row = await self._db.read(lambda c: c.execute(_GET_REQUEST, (tenant_id, request_id, now)).fetchone())
        return _request.decode_optional(row)

    async def set_user(self, tenant_id: TenantId, request_id: str, user_id: str, auth_time: Timestamp) -> bool:
        values = (user_id, auth_time, tenant_id, request_id)
        return await self._db.write(lambda c: c.execute(_SET_USER, values).rowcount == 1)

    async def delete(self, tenant_id: TenantId, request_id: str) -> bool:
        """True iff this call deleted the row: of concurrent completions of one request exactly one proceeds."""
        return await self._db.write(lambda c: c.execute(_DELETE_REQUEST, (tenant_id, request_id)).rowcount == 1)

    async def purge_expired(self, now: Timestamp) -> int:
        """Housekeeping across all tenants (on the worker thread)."""
        return await self._db.offload(lambda c: c.execute(_PURGE_REQUESTS, (now,)).rowcount, write=True)


class SqliteCodeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, code: AuthorizationCode) -> None:
        values = _code.encode(code)
        await self._db.write(lambda c: c.execute(_code.insert, values))

    async def redeem(self, tenant_id: TenantId, code_hash: str, now: Timestamp) -> CodeRedemption:
        """Consume the code with one conditional ``UPDATE … RETURNING``: the database picks the single winner
        (writers are serialised by ``BEGIN IMMEDIATE``, in this process and across processes). Only a loser reads
        the row, in the same transaction, to say why it lost. Spec: RFC 9700 §4.2.4."""

        def consume(connection: sqlite3.Connection) -> CodeRedemption:
            consumed = connection.execute(_CONSUME, (now, tenant_id, code_hash, now)).fetchall()
            if consumed:
                return CodeRedemption(status="redeemed", code=_code.decode(consumed[0]))
            row = connection.execute(_GET_CODE, (tenant_id, code_hash)).fetchone()
            if row is None:
                return CodeRedemption(status="unknown", code=None)
            code = _code.decode(row)
            # A replay wins over expiry: what the code produced must still be revoked.
            return CodeRedemption(status="replayed" if code.consumed_at is not None else "expired", code=code)

        return await self._db.write(consume)

    async def record_issued(
        self,
        tenant_id: TenantId,
        code_hash: str,
        *,
        family_id: str | None,
        access_jti: str,
        access_expires_at: Timestamp,
    ) -> None:
        values = (family_id, access_jti, access_expires_at, tenant_id, code_hash)
        await self._db.write(lambda c: c.execute(RECORD_ISSUED, values))

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants, delete codes that expired more than :data:`CODE_RETENTION_SECONDS` ago and whose
        access token (if any) has expired too (on the worker thread)."""
        cutoff = now - CODE_RETENTION_SECONDS
        return await self._db.offload(lambda c: c.execute(_PURGE_CODES, (cutoff, now)).rowcount, write=True)
