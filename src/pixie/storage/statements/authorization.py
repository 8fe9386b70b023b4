"""The authorization-code grant's state: pending authorization requests and issued codes."""

from __future__ import annotations

from pixie.storage.records import AuthorizationCode, AuthorizationRequest, CodeRedemption
from pixie.storage.statements.codec import RecordCodec
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["CODE_RETENTION_SECONDS", "SqlAuthorizationRequestStore", "SqlCodeStore"]

CODE_RETENTION_SECONDS = 24 * 3600
"""How long an expired code is kept (and a replay of it still revokes what it produced, RFC 9700 §4.2.4)."""

REQUEST = RecordCodec(AuthorizationRequest, "authorization_requests")
CODE = RecordCodec(AuthorizationCode, "authorization_codes")

GET_REQUEST = REQUEST.select("tenant_id = :tenant_id AND request_id = :request_id AND expires_at > :now")
SET_USER = Statement(
    "UPDATE authorization_requests SET user_id = :user_id, auth_time = :auth_time "
    "WHERE tenant_id = :tenant_id AND request_id = :request_id"
)
DELETE_REQUEST = Statement(
    "DELETE FROM authorization_requests WHERE tenant_id = :tenant_id AND request_id = :request_id"
)
PURGE_REQUESTS = Statement("DELETE FROM authorization_requests WHERE expires_at <= :now")

# Column names come from code; values are always bound.
CONSUME = Statement(
    "UPDATE authorization_codes SET consumed_at = :now "  # noqa: S608
    "WHERE tenant_id = :tenant_id AND code_hash = :code_hash AND consumed_at IS NULL AND expires_at > :now "
    f"RETURNING {CODE.columns}"
)
GET_CODE = CODE.select("tenant_id = :tenant_id AND code_hash = :code_hash")
RECORD_ISSUED_SQL = (
    "UPDATE authorization_codes SET family_id = :family_id, access_jti = :access_jti, "
    "access_expires_at = :access_expires_at WHERE tenant_id = :tenant_id AND code_hash = :code_hash"
)
RECORD_ISSUED = Statement(RECORD_ISSUED_SQL)
PURGE_CODES = Statement(
    "DELETE FROM authorization_codes "
    "WHERE expires_at <= :cutoff AND (access_expires_at IS NULL OR access_expires_at <= :now)"
)


class SqlAuthorizationRequestStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, request: AuthorizationRequest) -> None:
        await self._db.execute(REQUEST.insert, REQUEST.values(request))

    async def get(self, tenant_id: TenantId, request_id: str, now: Timestamp) -> AuthorizationRequest | None:
        """None when unknown or expired (``now >= expires_at``)."""
        params = {"tenant_id": tenant_id, "request_id": request_id, "now": now}
        return REQUEST.decode_optional(await self._db.fetch_one(GET_REQUEST, params))

    async def set_user(self, tenant_id: TenantId, request_id: str, user_id: str, auth_time: Timestamp) -> bool:
        params = {"tenant_id": tenant_id, "request_id": request_id, "user_id": user_id, "auth_time": auth_time}
        return await self._db.execute(SET_USER, params) == 1

    async def delete(self, tenant_id: TenantId, request_id: str) -> bool:
        """True iff this call deleted the row: of concurrent completions of one request exactly one proceeds (a
        concurrent DELETE finds the row gone once the winner's is done)."""
        return await self._db.execute(DELETE_REQUEST, {"tenant_id": tenant_id, "request_id": request_id}) == 1

    async def purge_expired(self, now: Timestamp) -> int:
        """Housekeeping across all tenants (bulk)."""
        return await self._db.execute(PURGE_REQUESTS, {"now": now}, bulk=True)


class SqlCodeStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create(self, code: AuthorizationCode) -> None:
        await self._db.execute(CODE.insert, CODE.values(code))

    async def redeem(self, tenant_id: TenantId, code_hash: str, now: Timestamp) -> CodeRedemption:
        """Consume the code with one conditional ``UPDATE … RETURNING``: the database picks the single winner.

        Concurrent UPDATEs of the row, from any process, are serialised (SQLite's write lock; PostgreSQL's row lock,
        after which the WHERE clause is checked again on the newest row version and finds ``consumed_at`` set). Only
        a loser reads the row, in a second statement that sees the winner's commit, to say why it lost.
        Spec: RFC 9700 §4.2.4.
        """
        params = {"tenant_id": tenant_id, "code_hash": code_hash, "now": now}
        consumed = await self._db.execute_returning(CONSUME, params)
        if consumed:
            return CodeRedemption(status="redeemed", code=CODE.decode(consumed[0]))
        row = await self._db.fetch_one(GET_CODE, params)
        if row is None:
            return CodeRedemption(status="unknown", code=None)
        found = CODE.decode(row)
        # A replay wins over expiry: what the code produced must still be revoked.
        return CodeRedemption(status="replayed" if found.consumed_at is not None else "expired", code=found)

    async def record_issued(
        self,
        tenant_id: TenantId,
        code_hash: str,
        *,
        family_id: str | None,
        access_jti: str,
        access_expires_at: Timestamp,
    ) -> None:
        params = {
            "tenant_id": tenant_id,
            "code_hash": code_hash,
            "family_id": family_id,
            "access_jti": access_jti,
            "access_expires_at": access_expires_at,
        }
        await self._db.execute(RECORD_ISSUED, params)

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants (bulk), delete codes that expired more than :data:`CODE_RETENTION_SECONDS` ago and
        whose access token (if any) has expired too."""
        return await self._db.execute(PURGE_CODES, {"cutoff": now - CODE_RETENTION_SECONDS, "now": now}, bulk=True)
