"""Refresh-token families with rotation and reuse detection, and the access-token deny list (lean SQLite backend;
semantics of :mod:`pixie.storage.sql.refresh`)."""

from __future__ import annotations

import dataclasses
import sqlite3

from pixie.storage.records import RefreshFamily, RefreshRotation, RefreshToken, User
from pixie.storage.sqlite.authorization import RECORD_ISSUED
from pixie.storage.sqlite.codec import RecordCodec, split_row
from pixie.storage.sqlite.database import Database
from pixie.types import TenantId, Timestamp

__all__ = ["SqliteAccessTokenDenyList", "SqliteRefreshTokenStore"]

_family = RecordCodec(RefreshFamily, "refresh_families")
_token = RecordCodec(RefreshToken, "refresh_tokens")
_user = RecordCodec(User, "users")

_GET_FAMILY = _family.select("tenant_id = ? AND family_id = ?")
# A token and its family in one statement (one snapshot); LEFT JOIN so rotate can tell a family-less token.
# Column names come from code; values are always bound.
_GET_WITH_FAMILY = (
    f"SELECT {_token.prefixed('t')}, {_family.prefixed('f')} FROM refresh_tokens AS t "  # noqa: S608
    "LEFT JOIN refresh_families AS f ON f.tenant_id = t.tenant_id AND f.family_id = t.family_id "
    "WHERE t.tenant_id = ? AND t.token_hash = ?"
)
# The same and the family's user, for the refresh grant (which checks that the user may still have tokens).
_GET_WITH_USER = (
    f"SELECT {_token.prefixed('t')}, {_family.prefixed('f')}, {_user.prefixed('u')} "  # noqa: S608
    "FROM refresh_tokens AS t "
    "JOIN refresh_families AS f ON f.tenant_id = t.tenant_id AND f.family_id = t.family_id "
    "LEFT JOIN users AS u ON u.tenant_id = f.tenant_id AND u.user_id = f.user_id "
    "WHERE t.tenant_id = ? AND t.token_hash = ?"
)
_CLAIM = (
    "UPDATE refresh_tokens SET used_at = ?, replaced_by_hash = ?, retry_response = ? "
    "WHERE tenant_id = ? AND token_hash = ? AND used_at IS NULL AND expires_at > ?"
)
_REVOKE_FAMILY = (
    "UPDATE refresh_families SET revoked_at = ?, revoked_reason = ? "
    "WHERE tenant_id = ? AND family_id = ? AND revoked_at IS NULL"
)
_LIVE_ACCESS_TOKENS = (
    "SELECT access_jti, access_expires_at FROM refresh_tokens "
    "WHERE tenant_id = ? AND family_id = ? AND access_jti IS NOT NULL AND access_expires_at > ? "
    "UNION ALL "
    "SELECT access_jti, access_expires_at FROM authorization_codes "
    "WHERE tenant_id = ? AND family_id = ? AND access_jti IS NOT NULL AND access_expires_at > ?"
)
_DENY = "INSERT INTO revoked_access_tokens (tenant_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_IS_DENIED = "SELECT 1 FROM revoked_access_tokens WHERE tenant_id = ? AND jti = ?"
_PURGE_DENIED = "DELETE FROM revoked_access_tokens WHERE expires_at <= ?"
_PURGE_TOKENS = (
    "DELETE FROM refresh_tokens WHERE EXISTS (SELECT 1 FROM refresh_families AS f "
    "WHERE f.tenant_id = refresh_tokens.tenant_id AND f.family_id = refresh_tokens.family_id "
    "AND (f.absolute_expires_at <= ? OR f.revoked_at <= ?))"
)
_PURGE_FAMILIES = "DELETE FROM refresh_families WHERE absolute_expires_at <= ? OR revoked_at <= ?"


def _split(row: sqlite3.Row | tuple[object, ...]) -> tuple[RefreshToken, RefreshFamily | None]:
    token, family = split_row(row, _token, _family)
    return _token.decode(token), _family.decode_joined(family)


class SqliteRefreshTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_family(self, family: RefreshFamily, first: RefreshToken, *, from_code: str | None = None) -> None:
        """Both rows (and the code's record of them) in one transaction: a duplicate first token leaves no family
        behind."""
        if (first.tenant_id, first.family_id) != (family.tenant_id, family.family_id):
            raise ValueError("the first refresh token must belong to the family it starts")
        family_values, token_values = _family.encode(family), _token.encode(first)
        issued = (family.family_id, first.access_jti, first.access_expires_at, family.tenant_id, from_code)

        def insert(connection: sqlite3.Connection) -> None:
            connection.execute(_family.insert, family_values)
            connection.execute(_token.insert, token_values)
            if from_code is not None:
                connection.execute(RECORD_ISSUED, issued)

        await self._db.write(insert)

    async def get_family(self, tenant_id: TenantId, family_id: str) -> RefreshFamily | None:
        row = await self._db.read(lambda c: c.execute(_GET_FAMILY, (tenant_id, family_id)).fetchone())
        return _family.decode_optional(row)

    async def get(self, tenant_id: TenantId, token_hash: str) -> tuple[RefreshToken, RefreshFamily] | None:
        """The token and its family, used or revoked alike: callers decide what that means."""
        row = await self._db.read(lambda c: c.execute(_GET_WITH_FAMILY, (tenant_id, token_hash)).fetchone())
        if row is None:
            return None
        token, family = _split(row)
        return None if family is None else (token, family)

    async def get_with_user(
        self, tenant_id: TenantId, token_hash: str
    ) -> tuple[RefreshToken, RefreshFamily, User | None] | None:
        """The token, its family and the family's user, joined in one statement."""
        row = await self._db.read(lambda c: c.execute(_GET_WITH_USER, (tenant_id, token_hash)).fetchone())
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
        """Mark the token used and insert ``successor``, in one transaction; exactly one concurrent caller wins.

        ``BEGIN IMMEDIATE`` holds the write lock from the first read, so a concurrent :meth:`revoke_family` (this or
        another process) is either seen or waits for us, and the token read is current. The claim is still a
        conditional UPDATE (unused, not idle-expired), and only its winner inserts the successor. Order of verdicts:
        unknown, revoked, family expired, already used, token expired. Spec: RFC 9700 §4.14.2.
        """
        successor_values = _token.encode(successor)

        def claim(connection: sqlite3.Connection) -> RefreshRotation:
            row = connection.execute(_GET_WITH_FAMILY, (tenant_id, token_hash)).fetchone()
            if row is None:
                return RefreshRotation(status="unknown", token=None, family=None)
            token, family = _split(row)
            if (successor.tenant_id, successor.family_id) != (tenant_id, token.family_id):
                raise ValueError("the successor must belong to the rotated token's family")
            if family is None:
                return RefreshRotation(status="unknown", token=token, family=None)
            if family.revoked_at is not None:
                return RefreshRotation(status="revoked", token=token, family=family)
            if now >= family.absolute_expires_at:
                return RefreshRotation(status="expired", token=token, family=family)
            claimed = connection.execute(
                _CLAIM, (now, successor.token_hash, retry_response, tenant_id, token_hash, now)
            ).rowcount
            if claimed == 1:
                connection.execute(_token.insert, successor_values)
                used = dataclasses.replace(
                    token, used_at=now, replaced_by_hash=successor.token_hash, retry_response=retry_response
                )
                return RefreshRotation(status="rotated", token=used, family=family)
            # Lost: the row read above is current (we hold the write lock), so it says why.
            if token.used_at is not None:
                return RefreshRotation(status="already_used", token=token, family=family)
            return RefreshRotation(status="expired", token=token, family=family)

        return await self._db.write(claim)

    async def revoke_family(self, tenant_id: TenantId, family_id: str, reason: str, now: Timestamp) -> bool:
        """Revoke the family (once: True iff this call did it) and deny-list its live access tokens.

        The deny list is filled on every call (idempotently), from the family's refresh tokens and from the code
        that started it. Spec: RFC 9700 §4.14.2 (reuse), §4.2.4 (code replay).
        """

        def revoke(connection: sqlite3.Connection) -> bool:
            revoked = connection.execute(_REVOKE_FAMILY, (now, reason, tenant_id, family_id)).rowcount
            issued = connection.execute(
                _LIVE_ACCESS_TOKENS, (tenant_id, family_id, now, tenant_id, family_id, now)
            ).fetchall()
            live = {jti: expires_at for jti, expires_at in issued}
            if live:
                connection.executemany(
                    _DENY, [(tenant_id, jti, expires_at) for jti, expires_at in sorted(live.items())]
                )
            return revoked == 1

        return await self._db.write(revoke)

    async def purge_expired(self, now: Timestamp, *, revoked_retention: float = 86400.0) -> int:
        """Across all tenants (on the worker thread). Tokens go first, explicitly rather than by cascade. A revoked
        family is kept a while so a late replay of one of its tokens is still answered "revoked", not "unknown"."""
        bounds = (now, now - revoked_retention)

        def purge(connection: sqlite3.Connection) -> int:
            connection.execute(_PURGE_TOKENS, bounds)
            families: int = connection.execute(_PURGE_FAMILIES, bounds).rowcount
            return families

        return await self._db.offload(purge, write=True)


class SqliteAccessTokenDenyList:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def deny(self, tenant_id: TenantId, jti: str, expires_at: Timestamp) -> None:
        """Idempotent: a second call for the same jti keeps the first entry."""
        await self._db.write(lambda c: c.execute(_DENY, (tenant_id, jti, expires_at)))

    async def is_denied(self, tenant_id: TenantId, jti: str) -> bool:
        return await self._db.read(lambda c: c.execute(_IS_DENIED, (tenant_id, jti)).fetchone() is not None)

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants, drop entries whose token has expired (``expires_at <= now``); a caller that
        verifies with clock leeway passes ``now - leeway``. On the worker thread."""
        return await self._db.offload(lambda c: c.execute(_PURGE_DENIED, (now,)).rowcount, write=True)
