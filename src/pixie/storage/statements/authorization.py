"""The authorization-code grant's state: pending authorization requests and redeemed codes."""

from __future__ import annotations

import abc

from pixie.storage.records import AuthorizationCode, AuthorizationRequest, CodeRedemption, RefreshFamily, RefreshToken
from pixie.storage.statements.codec import RecordCodec
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.storage.statements.refresh import check_first
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

GET_CODE = CODE.select("tenant_id = :tenant_id AND code_hash = :code_hash")
# A redeemed code's row, only if none exists for it yet and its user may still sign in (ending a user's access ends
# the codes in flight too). Its columns are bound as :c_*, the user's key again as :u_* (PostgreSQL gives a parameter
# one type, and the column it is inserted into and the one it is compared with differ). The WHERE also keeps SQLite
# from reading ON CONFLICT as a join constraint. Column names come from code; values are always bound.
RECORD_REDEEMED_SQL = (
    f"INSERT INTO {CODE.table} ({CODE.columns}) SELECT {CODE.parameters('c_')} "  # noqa: S608
    "WHERE EXISTS (SELECT 1 FROM users WHERE tenant_id = :u_tenant_id AND user_id = :u_user_id AND NOT disabled) "
    "ON CONFLICT DO NOTHING"
)

RECORD_REDEEMED = Statement(RECORD_REDEEMED_SQL)
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


class SqlCodeStore(abc.ABC):
    """Redeemed codes: a code is sealed, not stored, until it is used (:mod:`pixie.tokens.codes`). Its row, written
    at redemption with what it produced, makes it single-use and lets a replay revoke that."""

    def __init__(self, db: Driver) -> None:
        self._db = db

    async def get(self, tenant_id: TenantId, code_hash: str) -> AuthorizationCode | None:
        """A redeemed code's row (a replay's question: what did it produce?)."""
        params = {"tenant_id": tenant_id, "code_hash": code_hash}
        return CODE.decode_optional(await self._db.fetch_one(GET_CODE, params))

    @abc.abstractmethod
    async def _record(self, code: AuthorizationCode, family: RefreshFamily | None, first: RefreshToken | None) -> bool:
        """Write the code's row and, when it was written, the family and its first token, all or nothing; whether
        the code's row was written."""

    async def redeem(
        self, code: AuthorizationCode, family: RefreshFamily | None = None, first: RefreshToken | None = None
    ) -> CodeRedemption:
        """Record ``code`` as redeemed — the caller has set ``consumed_at`` and what it produced (``family_id``,
        ``access_jti``, ``access_expires_at``) — and start ``family`` with ``first``, in one atomic write.

        ``redeemed``: this call wrote the row. ``replayed``: a row for the code was there (a concurrent or earlier
        redemption, in any process, won; the unique key decides), returned so the caller can revoke what it
        produced. ``unknown``: the code's user is gone or disabled. Spec: RFC 9700 §4.2.4.
        """
        if (family is None) != (first is None):
            raise ValueError("a family comes with its first token")
        if family is not None and first is not None:
            check_first(family, first)
            if (family.tenant_id, family.family_id) != (code.tenant_id, code.family_id):
                raise ValueError("the code must name the family it starts")
        if await self._record(code, family, first):
            return CodeRedemption(status="redeemed", code=code)
        stored = await self.get(code.tenant_id, code.code_hash)
        if stored is None:
            return CodeRedemption(status="unknown", code=None)
        return CodeRedemption(status="replayed", code=stored)

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants (bulk), delete codes that expired more than :data:`CODE_RETENTION_SECONDS` ago and
        whose access token (if any) has expired too."""
        return await self._db.execute(PURGE_CODES, {"cutoff": now - CODE_RETENTION_SECONDS, "now": now}, bulk=True)


def redeemed_params(code: AuthorizationCode) -> dict[str, object]:
    """The parameters of :data:`RECORD_REDEEMED_SQL` for ``code``."""
    return {**CODE.encode(code, "c_"), "u_tenant_id": code.tenant_id, "u_user_id": code.user_id}
