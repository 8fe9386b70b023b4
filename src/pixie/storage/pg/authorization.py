"""The authorization-code grant's state: pending authorization requests and issued codes (PostgreSQL backend;
semantics of :mod:`pixie.storage.sql.authorization`)."""

from __future__ import annotations

from pixie.storage.pg.codec import RecordCodec
from pixie.storage.pg.database import Database
from pixie.storage.records import AuthorizationCode, AuthorizationRequest, CodeRedemption
from pixie.storage.sql.authorization import CODE_RETENTION_SECONDS
from pixie.types import TenantId, Timestamp

__all__ = ["PgAuthorizationRequestStore", "PgCodeStore"]

_request = RecordCodec(AuthorizationRequest, "authorization_requests")
_code = RecordCodec(AuthorizationCode, "authorization_codes")

_GET_REQUEST = _request.select("tenant_id = $1 AND request_id = $2 AND expires_at > $3")
_SET_USER = "UPDATE authorization_requests SET user_id = $3, auth_time = $4 WHERE tenant_id = $1 AND request_id = $2"
_DELETE_REQUEST = "DELETE FROM authorization_requests WHERE tenant_id = $1 AND request_id = $2"
_PURGE_REQUESTS = "DELETE FROM authorization_requests WHERE expires_at <= $1"

# Column names come from code; values are always bound.
_CONSUME = (
    "UPDATE authorization_codes SET consumed_at = $3 "  # noqa: S608
    "WHERE tenant_id = $1 AND code_hash = $2 AND consumed_at IS NULL AND expires_at > $3 "
    f"RETURNING {_code.columns}"
)
_GET_CODE = _code.select("tenant_id = $1 AND code_hash = $2")
_RECORD_ISSUED = (
    "UPDATE authorization_codes SET family_id = $3, access_jti = $4, access_expires_at = $5 "
    "WHERE tenant_id = $1 AND code_hash = $2"
)
_PURGE_CODES = (
    "DELETE FROM authorization_codes WHERE expires_at <= $1 AND (access_expires_at IS NULL OR access_expires_at <= $2)"
)


class PgAuthorizationRequestStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, request: AuthorizationRequest) -> None:
        await self._db.execute(_request.insert, *_request.encode(request))

    async def get(self, tenant_id: TenantId, request_id: str, now: Timestamp) -> AuthorizationRequest | None:
        """None when unknown or expired (``now >= expires_at``)."""
        return _request.decode_optional(await self._db.fetchrow(_GET_REQUEST, tenant_id, request_id, now))

    async def set_user(self, tenant_id: TenantId, request_id: str, user_id: str, auth_time: Timestamp) -> bool:
        return await self._db.execute(_SET_USER, tenant_id, request_id, user_id, auth_time) == 1

    async def delete(self, tenant_id: TenantId, request_id: str) -> bool:
        """True iff this call deleted the row: of concurrent completions of one request exactly one proceeds (the
        others' DELETE waits for the winner's row lock, then finds the row gone)."""
        return await self._db.execute(_DELETE_REQUEST, tenant_id, request_id) == 1

    async def purge_expired(self, now: Timestamp) -> int:
        """Housekeeping across all tenants."""
        return await self._db.execute(_PURGE_REQUESTS, now)


class PgCodeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, code: AuthorizationCode) -> None:
        await self._db.execute(_code.insert, *_code.encode(code))

    async def redeem(self, tenant_id: TenantId, code_hash: str, now: Timestamp) -> CodeRedemption:
        """Consume the code with one conditional ``UPDATE … RETURNING``: the database picks the single winner.

        Concurrent UPDATEs of the row (from any process) queue on its lock and re-check the WHERE clause once the
        winner commits, finding ``consumed_at`` set. Only a loser reads the row again, in a second statement (a
        fresh snapshot, so it sees the winner's commit), to say why it lost. Spec: RFC 9700 §4.2.4.
        """
        consumed = await self._db.write_row(_CONSUME, tenant_id, code_hash, now)
        if consumed is not None:
            return CodeRedemption(status="redeemed", code=_code.decode(consumed))
        row = await self._db.fetchrow(_GET_CODE, tenant_id, code_hash)
        if row is None:
            return CodeRedemption(status="unknown", code=None)
        code = _code.decode(row)
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
        await self._db.execute(_RECORD_ISSUED, tenant_id, code_hash, family_id, access_jti, access_expires_at)

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants, delete codes that expired more than :data:`CODE_RETENTION_SECONDS` ago and whose
        access token (if any) has expired too."""
        return await self._db.execute(_PURGE_CODES, now - CODE_RETENTION_SECONDS, now)
