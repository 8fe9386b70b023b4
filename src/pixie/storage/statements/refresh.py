"""Refresh-token families with rotation and reuse detection, and the access-token deny list."""

from __future__ import annotations

import abc

from pixie.storage.records import RefreshFamily, RefreshRotation, RefreshToken, User
from pixie.storage.statements.codec import RecordCodec, Row, split_row
from pixie.storage.statements.dialect import Dialect, Statement
from pixie.storage.statements.driver import Driver, Step
from pixie.types import TenantId, Timestamp

__all__ = ["SqlAccessTokenDenyList", "SqlRefreshTokenStore", "check_first", "split_token_and_family"]

FAMILY = RecordCodec(RefreshFamily, "refresh_families")
TOKEN = RecordCodec(RefreshToken, "refresh_tokens")
USER = RecordCodec(User, "users")

GET_FAMILY = FAMILY.select("tenant_id = :tenant_id AND family_id = :family_id")
GET_TOKEN = TOKEN.select("tenant_id = :tenant_id AND token_hash = :token_hash")
_FAMILY_OF_TOKEN = "f.tenant_id = t.tenant_id AND f.family_id = t.family_id"  # noqa: S105 (a join condition)


def _with_family(dialect: Dialect) -> str:
    # A token and its family in one statement (one snapshot); an outer join, so a family-less token is told apart.
    # Column names come from code; values are always bound.
    joined = dialect.join_by_key("refresh_families", FAMILY.columns, "f", _FAMILY_OF_TOKEN)
    return (
        f"SELECT {TOKEN.prefixed('t')}, {FAMILY.prefixed('f')} FROM refresh_tokens AS t {joined} "  # noqa: S608
        "WHERE t.tenant_id = :tenant_id AND t.token_hash = :token_hash"
    )


def _with_user(dialect: Dialect) -> str:
    # The same and the family's user, for the refresh grant (which checks that the user may still have tokens).
    joined = dialect.join_by_key("refresh_families", FAMILY.columns, "f", _FAMILY_OF_TOKEN, outer=False)
    owner = dialect.join_by_key("users", USER.columns, "u", "u.tenant_id = f.tenant_id AND u.user_id = f.user_id")
    return (
        f"SELECT {TOKEN.prefixed('t')}, {FAMILY.prefixed('f')}, {USER.prefixed('u')} "  # noqa: S608
        f"FROM refresh_tokens AS t {joined} {owner} "
        "WHERE t.tenant_id = :tenant_id AND t.token_hash = :token_hash"
    )


GET_WITH_FAMILY = Statement(_with_family)
GET_WITH_USER = Statement(_with_user)
REVOKE_FAMILY = Statement(
    "UPDATE refresh_families SET revoked_at = :now, revoked_reason = :reason "
    "WHERE tenant_id = :tenant_id AND family_id = :family_id AND revoked_at IS NULL"
)
# Every live access token issued from the family (its refresh tokens' and the code's that started it), each once
# with its latest expiry, inserted in jti order so that concurrent revocations take the deny list's key locks in one
# order. (The WHERE keeps SQLite from reading ON CONFLICT as a join constraint.)
DENY_FAMILY = Statement(
    "INSERT INTO revoked_access_tokens (tenant_id, jti, expires_at) "
    "SELECT :tenant_id, jti, MAX(expires_at) FROM ("
    "SELECT access_jti AS jti, access_expires_at AS expires_at FROM refresh_tokens "
    "WHERE tenant_id = :tenant_id AND family_id = :family_id AND access_jti IS NOT NULL AND access_expires_at > :now "
    "UNION ALL "
    "SELECT access_jti, access_expires_at FROM authorization_codes "
    "WHERE tenant_id = :tenant_id AND family_id = :family_id AND access_jti IS NOT NULL AND access_expires_at > :now"
    ") AS issued WHERE TRUE GROUP BY jti ORDER BY jti "
    "ON CONFLICT DO NOTHING"
)
DENY = Statement(
    "INSERT INTO revoked_access_tokens (tenant_id, jti, expires_at) VALUES (:tenant_id, :jti, :expires_at) "
    "ON CONFLICT DO NOTHING"
)
SESSION_FAMILIES = Statement(
    "SELECT family_id FROM refresh_families WHERE tenant_id = :tenant_id AND sid = :sid AND revoked_at IS NULL "
    "ORDER BY family_id"
)
IS_DENIED = Statement("SELECT 1 FROM revoked_access_tokens WHERE tenant_id = :tenant_id AND jti = :jti")
PURGE_DENIED = Statement("DELETE FROM revoked_access_tokens WHERE expires_at <= :now")
# Tokens first, explicitly rather than by cascade.
PURGE_TOKENS = Statement(
    "DELETE FROM refresh_tokens WHERE EXISTS (SELECT 1 FROM refresh_families AS f "
    "WHERE f.tenant_id = refresh_tokens.tenant_id AND f.family_id = refresh_tokens.family_id "
    "AND (f.absolute_expires_at <= :now OR f.revoked_at <= :revoked_before))"
)
PURGE_FAMILIES = Statement(
    "DELETE FROM refresh_families WHERE absolute_expires_at <= :now OR revoked_at <= :revoked_before"
)


def split_token_and_family(row: Row, start: int = 0) -> tuple[RefreshToken, RefreshFamily | None]:
    """The token and (outer-joined) family of a row selected as :data:`GET_WITH_FAMILY` selects them, from column
    ``start`` on."""
    found, owner = split_row(row, TOKEN, FAMILY, start=start)
    return TOKEN.decode(found), FAMILY.decode_joined(owner)


def check_first(family_record: RefreshFamily, first: RefreshToken) -> None:
    if (first.tenant_id, first.family_id) != (family_record.tenant_id, family_record.family_id):
        raise ValueError("the first refresh token must belong to the family it starts")


class SqlRefreshTokenStore(abc.ABC):
    """Families and their tokens; :meth:`rotate` claims a token atomically, which each driver does its own way."""

    def __init__(self, db: Driver) -> None:
        self._db = db

    async def create_family(self, family: RefreshFamily, first: RefreshToken) -> None:
        """Both rows in one transaction: a duplicate first token leaves no family behind. (A code exchange starts
        its family with the code's redemption instead: ``SqlCodeStore.redeem``.)"""
        check_first(family, first)
        steps: list[Step] = [
            (FAMILY.insert, [FAMILY.values(family)]),
            (TOKEN.insert, [TOKEN.values(first)]),
        ]
        await self._db.transaction(steps)

    async def get_family(self, tenant_id: TenantId, family_id: str) -> RefreshFamily | None:
        row = await self._db.fetch_one(GET_FAMILY, {"tenant_id": tenant_id, "family_id": family_id})
        return FAMILY.decode_optional(row)

    async def get(self, tenant_id: TenantId, token_hash: str) -> tuple[RefreshToken, RefreshFamily] | None:
        """The token and its family, used or revoked alike: callers decide what that means."""
        row = await self._db.fetch_one(GET_WITH_FAMILY, {"tenant_id": tenant_id, "token_hash": token_hash})
        if row is None:
            return None
        found, owner = split_token_and_family(row)
        return None if owner is None else (found, owner)

    async def get_with_user(
        self, tenant_id: TenantId, token_hash: str
    ) -> tuple[RefreshToken, RefreshFamily, User | None] | None:
        """The token, its family and the family's user, joined in one statement."""
        row = await self._db.fetch_one(GET_WITH_USER, {"tenant_id": tenant_id, "token_hash": token_hash})
        if row is None:
            return None
        found, owner, user = split_row(row, TOKEN, FAMILY, USER)
        return TOKEN.decode(found), FAMILY.decode(owner), USER.decode_joined(user)

    @abc.abstractmethod
    async def rotate(
        self,
        tenant_id: TenantId,
        token_hash: str,
        successor: RefreshToken,
        now: Timestamp,
        *,
        retry_response: bytes | None = None,
    ) -> RefreshRotation:
        """Mark the token used and insert ``successor``; of any number of concurrent callers, in any processes,
        exactly one wins. Order of verdicts: unknown, revoked, family expired, already used, token expired.
        Spec: RFC 9700 §4.14.2."""

    async def revoke_family(self, tenant_id: TenantId, family_id: str, reason: str, now: Timestamp) -> bool:
        """Revoke the family (once: True iff this call did it) and deny-list its live access tokens.

        Two statements in one transaction, in this order: the UPDATE waits for a rotation of the family in flight
        (SQLite's write lock; on PostgreSQL the family's row lock, which rotation holds), and the INSERT then sees
        that rotation's successor. The deny list is filled on every call (idempotently).
        Spec: RFC 9700 §4.14.2 (reuse), §4.2.4 (code replay).
        """
        params = {"tenant_id": tenant_id, "family_id": family_id, "reason": reason, "now": now}
        revoked, _ = await self._db.transaction([(REVOKE_FAMILY, [params]), (DENY_FAMILY, [params])])
        return revoked == 1

    async def revoke_session(self, tenant_id: TenantId, sid: str, reason: str, now: Timestamp) -> int:
        """Revoke every live family that came from the SSO session ``sid`` (as :meth:`revoke_family` does each);
        the number this call revoked. Spec: OpenID Connect RP-Initiated Logout 1.0 §2."""
        rows = await self._db.fetch_all(SESSION_FAMILIES, {"tenant_id": tenant_id, "sid": sid})
        revoked = 0
        for row in rows:
            revoked += await self.revoke_family(tenant_id, str(row[0]), reason, now)
        return revoked

    async def purge_expired(self, now: Timestamp, *, revoked_retention: float = 86400.0) -> int:
        """Across all tenants (bulk), in one transaction; the number of families. A revoked family is kept a while
        so that a late replay of one of its tokens is still answered "revoked", not "unknown"."""
        params = {"now": now, "revoked_before": now - revoked_retention}
        _, families = await self._db.transaction([(PURGE_TOKENS, [params]), (PURGE_FAMILIES, [params])], bulk=True)
        return families


_family_insert = FAMILY.insert
_family_encode = FAMILY.encode
_family_decode = FAMILY.decode_optional


class SqlAccessTokenDenyList:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def deny(self, tenant_id: TenantId, jti: str, expires_at: Timestamp) -> None:
        """Idempotent: a second call for the same jti keeps the first entry."""
        await self._db.execute(DENY, {"tenant_id": tenant_id, "jti": jti, "expires_at": expires_at})

    async def is_denied(self, tenant_id: TenantId, jti: str) -> bool:
        return await self._db.fetch_one(IS_DENIED, {"tenant_id": tenant_id, "jti": jti}) is not None

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants (bulk), drop entries whose token has expired (``expires_at <= now``); a caller that
        verifies with clock leeway passes ``now - leeway``."""
        return await self._db.execute(PURGE_DENIED, {"now": now}, bulk=True)
