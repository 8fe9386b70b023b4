"""Refresh-token families with rotation and reuse detection, and the access-token deny list (PostgreSQL backend;
semantics of :mod:`pixie.storage.sql.refresh`)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pixie.storage.pg.codec import RecordCodec, placeholders, split_row
from pixie.storage.pg.database import Database, rowcount
from pixie.storage.records import RefreshFamily, RefreshRotation, RefreshToken, User
from pixie.types import TenantId, Timestamp

if TYPE_CHECKING:
    from asyncpg import Record

__all__ = ["PgAccessTokenDenyList", "PgRefreshTokenStore"]

_family = RecordCodec(RefreshFamily, "refresh_families")
_token = RecordCodec(RefreshToken, "refresh_tokens")
_user = RecordCodec(User, "users")
_T, _F = _token.width, _family.width

# Column names come from code; values are always bound.
_GET_FAMILY = _family.select("tenant_id = $1 AND family_id = $2")
_GET_TOKEN = _token.select("tenant_id = $1 AND token_hash = $2")
_FAMILY_OF_TOKEN = _family.lateral("f", "tenant_id = t.tenant_id AND family_id = t.family_id")
_USER_OF_FAMILY = _user.lateral("u", "tenant_id = f.tenant_id AND user_id = f.user_id")
_GET_WITH_FAMILY = (
    f"SELECT {_token.prefixed('t')}, {_family.prefixed('f')} FROM refresh_tokens AS t "  # noqa: S608
    f"JOIN {_FAMILY_OF_TOKEN} ON TRUE WHERE t.tenant_id = $1 AND t.token_hash = $2"
)
# The same and the family's user, for the refresh grant (which checks that the user may still have tokens).
_GET_WITH_USER = (
    f"SELECT {_token.prefixed('t')}, {_family.prefixed('f')}, {_user.prefixed('u')} "  # noqa: S608
    f"FROM refresh_tokens AS t JOIN {_FAMILY_OF_TOKEN} ON TRUE LEFT JOIN {_USER_OF_FAMILY} ON TRUE "
    "WHERE t.tenant_id = $1 AND t.token_hash = $2"
)
# The family and its first token in one statement (atomic; the foreign key is checked at its end).
_CREATE_FAMILY = (
    f"WITH family AS ({_family.insert} RETURNING 1) "  # noqa: S608
    f"INSERT INTO {_token.table} ({_token.columns}) SELECT {placeholders(_F + 1, _T)} FROM family"
)
# The same, also recording on the code what it produced (a data-modifying CTE always runs, referenced or not).
# Extra parameters after the token's columns: the code hash, the access token's jti and its expiry.
_CREATE_FAMILY_FROM_CODE = (
    f"WITH family AS ({_family.insert} RETURNING 1), "  # noqa: S608
    f"code AS (UPDATE authorization_codes SET family_id = $2, access_jti = ${_F + _T + 2}, "
    f"access_expires_at = ${_F + _T + 3} WHERE tenant_id = $1 AND code_hash = ${_F + _T + 1}) "
    f"INSERT INTO {_token.table} ({_token.columns}) SELECT {placeholders(_F + 1, _T)} FROM family"
)

# Rotation in one statement. Parameters: $1 tenant, $2 token hash, $3 now, $4 retry response, then the successor's
# columns from $5 ($5 its tenant, $6 its hash, $7 its family).
#  1. ``token``: the presented token, as of the statement's snapshot.
#  2. ``family``: its family, locked FOR UPDATE — so a concurrent revoke_family (which updates that row) is either
#     committed before and seen here (a locked row is read in its newest version), or waits for our commit and then
#     deny-lists the successor's access token. Every rotation of the family queues here too, always before it
#     locks a token row: one lock order, no deadlock.
#  3. ``claimed``: the conditional UPDATE (unused, not idle-expired, family live, successor of the same family). A
#     concurrent winner's commit makes PostgreSQL re-check the WHERE clause on the newest row version, which is
#     used by then: of any number of racing callers, in any processes, exactly one claims. The token row is found
#     by its key alone: ``family`` was looked up by this row's family_id, which never changes, so the family
#     conditions are on ``f`` (and the successor's tenant on the parameters). Naming ``t.family_id`` here let the
#     planner reach the row through the family index instead, reading every token of the family (1,200 rows per
#     rotation in a benchmark); ``tests/storage/test_pg_plans.py`` holds it to the key.
#  4. ``successor``: inserted only if claimed.
# The row reports whether this call claimed, with the token (snapshot) and the family (current) to say why not.
_ROTATE = (
    f"WITH token AS (SELECT {_token.columns} FROM refresh_tokens WHERE tenant_id = $1 AND token_hash = $2), "  # noqa: S608
    f"family AS MATERIALIZED (SELECT {_family.columns} FROM refresh_families "
    "WHERE tenant_id = $1 AND family_id = (SELECT family_id FROM token) FOR UPDATE), "
    "claimed AS (UPDATE refresh_tokens AS t SET used_at = $3, replaced_by_hash = $6, retry_response = $4 "
    "FROM family AS f "
    "WHERE t.tenant_id = $1 AND t.token_hash = $2 AND t.used_at IS NULL AND t.expires_at > $3 "
    "AND f.revoked_at IS NULL AND f.absolute_expires_at > $3 AND f.family_id = $7 AND $5 = $1 "
    "RETURNING t.token_hash), "
    f"successor AS (INSERT INTO refresh_tokens ({_token.columns}) SELECT {placeholders(5, _T)} FROM claimed) "
    f"SELECT EXISTS (SELECT FROM claimed), {_token.prefixed('token')}, {_family.prefixed('family')} "
    "FROM token LEFT JOIN family ON TRUE"
)
_REVOKE_FAMILY = (
    "UPDATE refresh_families SET revoked_at = $3, revoked_reason = $4 "
    "WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL"
)
# Every live access token issued from the family (its refresh tokens' and the code's that started it), each once,
# inserted in jti order so that concurrent revocations take the deny list's key locks in one order.
_DENY_FAMILY = (
    "INSERT INTO revoked_access_tokens (tenant_id, jti, expires_at) "
    "SELECT DISTINCT ON (jti) $1, jti, expires_at FROM ("
    "SELECT access_jti, access_expires_at FROM refresh_tokens "
    "WHERE tenant_id = $1 AND family_id = $2 AND access_jti IS NOT NULL AND access_expires_at > $3 "
    "UNION ALL "
    "SELECT access_jti, access_expires_at FROM authorization_codes "
    "WHERE tenant_id = $1 AND family_id = $2 AND access_jti IS NOT NULL AND access_expires_at > $3"
    ") AS issued(jti, expires_at) ORDER BY jti, expires_at DESC "
    "ON CONFLICT DO NOTHING"
)
_DENY = "INSERT INTO revoked_access_tokens (tenant_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
_IS_DENIED = "SELECT EXISTS (SELECT FROM revoked_access_tokens WHERE tenant_id = $1 AND jti = $2)"
_PURGE_DENIED = "DELETE FROM revoked_access_tokens WHERE expires_at <= $1"
_PURGE_TOKENS = (
    "DELETE FROM refresh_tokens AS t USING refresh_families AS f "
    "WHERE f.tenant_id = t.tenant_id AND f.family_id = t.family_id "
    "AND (f.absolute_expires_at <= $1 OR f.revoked_at <= $2)"
)
_PURGE_FAMILIES = "DELETE FROM refresh_families WHERE absolute_expires_at <= $1 OR revoked_at <= $2"


def _split(row: Record, start: int) -> tuple[RefreshToken, RefreshFamily | None]:
    token, family = split_row(row[start:], _token, _family)
    return _token.decode(token), _family.decode_joined(family)


class PgRefreshTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_family(self, family: RefreshFamily, first: RefreshToken, *, from_code: str | None = None) -> None:
        if (first.tenant_id, first.family_id) != (family.tenant_id, family.family_id):
            raise ValueError("the first refresh token must belong to the family it starts")
        values = (*_family.encode(family), *_token.encode(first))
        if from_code is None:
            await self._db.execute(_CREATE_FAMILY, *values)
            return
        issued = (from_code, first.access_jti, first.access_expires_at)
        await self._db.execute(_CREATE_FAMILY_FROM_CODE, *values, *issued)

    async def get_family(self, tenant_id: TenantId, family_id: str) -> RefreshFamily | None:
        return _family.decode_optional(await self._db.fetchrow(_GET_FAMILY, tenant_id, family_id))

    async def get(self, tenant_id: TenantId, token_hash: str) -> tuple[RefreshToken, RefreshFamily] | None:
        """The token and its family, used or revoked alike: callers decide what that means."""
        row = await self._db.fetchrow(_GET_WITH_FAMILY, tenant_id, token_hash)
        if row is None:
            return None
        token, family = _split(row, 0)
        return None if family is None else (token, family)

    async def get_with_user(
        self, tenant_id: TenantId, token_hash: str
    ) -> tuple[RefreshToken, RefreshFamily, User | None] | None:
        """The token, its family and the family's user, joined in one statement."""
        row = await self._db.fetchrow(_GET_WITH_USER, tenant_id, token_hash)
        if row is None:
            return None
        token, family, user = split_row(row, _token, _family, _user)
        return _token.decode(token), _family.decode(family), _user.decode_joined(user)

    async def rotate(
        self,
        tenant_id: TenantId,
        token_hash: str,
        successor: RefreshToken,
        now: Timestamp,
        *,
        retry_response: bytes | None = None,
    ) -> RefreshRotation:
        """Mark the token used and insert ``successor`` in one statement (see ``_ROTATE``); exactly one concurrent
        caller wins. Order of verdicts: unknown, revoked, family expired, already used, token expired.
        Spec: RFC 9700 §4.14.2.
        """
        row = await self._db.write_row(_ROTATE, tenant_id, token_hash, now, retry_response, *_token.encode(successor))
        if row is None:
            return RefreshRotation(status="unknown", token=None, family=None)
        token, family = _split(row, 1)
        if (successor.tenant_id, successor.family_id) != (tenant_id, token.family_id):
            raise ValueError("the successor must belong to the rotated token's family")  # nothing was written
        if family is None:
            return RefreshRotation(status="unknown", token=token, family=None)
        if row[0]:
            used = dataclasses.replace(
                token, used_at=now, replaced_by_hash=successor.token_hash, retry_response=retry_response
            )
            return RefreshRotation(status="rotated", token=used, family=family)
        if family.revoked_at is not None:
            return RefreshRotation(status="revoked", token=token, family=family)
        if now >= family.absolute_expires_at:
            return RefreshRotation(status="expired", token=token, family=family)
        if token.used_at is None and now < token.expires_at:
            # Lost to a rotation that committed after this statement's snapshot: read the token again to say why.
            current = _token.decode_optional(await self._db.fetchrow(_GET_TOKEN, tenant_id, token_hash))
            token = token if current is None else current
        if token.used_at is not None:
            return RefreshRotation(status="already_used", token=token, family=family)
        return RefreshRotation(status="expired", token=token, family=family)

    async def revoke_family(self, tenant_id: TenantId, family_id: str, reason: str, now: Timestamp) -> bool:
        """Revoke the family (once: True iff this call did it) and deny-list its live access tokens.

        Two statements in one transaction, in this order: the UPDATE takes the family's row lock (waiting for a
        rotation in flight), and the deny-list INSERT, a new snapshot, then sees that rotation's successor. The deny
        list is filled on every call (idempotently). Spec: RFC 9700 §4.14.2 (reuse), §4.2.4 (code replay).
        """
        async with self._db.transaction() as connection:
            revoked = rowcount(await connection.execute(_REVOKE_FAMILY, tenant_id, family_id, now, reason))
            await connection.execute(_DENY_FAMILY, tenant_id, family_id, now)
        return revoked == 1

    async def purge_expired(self, now: Timestamp, *, revoked_retention: float = 86400.0) -> int:
        """Across all tenants, in one transaction. Tokens go first, explicitly rather than by cascade. A revoked
        family is kept a while so a late replay of one of its tokens is still answered "revoked", not "unknown"."""
        bounds = (now, now - revoked_retention)
        async with self._db.transaction() as connection:
            await connection.execute(_PURGE_TOKENS, *bounds)
            return rowcount(await connection.execute(_PURGE_FAMILIES, *bounds))


class PgAccessTokenDenyList:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def deny(self, tenant_id: TenantId, jti: str, expires_at: Timestamp) -> None:
        """Idempotent: a second call for the same jti keeps the first entry."""
        await self._db.execute(_DENY, tenant_id, jti, expires_at)

    async def is_denied(self, tenant_id: TenantId, jti: str) -> bool:
        return bool(await self._db.fetchval(_IS_DENIED, tenant_id, jti))

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants, drop entries whose token has expired (``expires_at <= now``); a caller that
        verifies with clock leeway passes ``now - leeway``."""
        return await self._db.execute(_PURGE_DENIED, now)
