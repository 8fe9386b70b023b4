"""Refresh-token families with rotation and reuse detection, and the access-token deny list."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from pixie.storage.records import RefreshFamily, RefreshRotation, RefreshToken, User
from pixie.storage.sql.base import SqlStore, insert_ignoring_duplicates, record_from_row, row_from_record
from pixie.storage.sql.tables import authorization_codes, refresh_families, refresh_tokens, revoked_access_tokens, users
from pixie.types import TenantId, Timestamp

__all__ = ["SqlAccessTokenDenyList", "SqlRefreshTokenStore"]

_families = refresh_families
_tokens = refresh_tokens
_denied = revoked_access_tokens


def _family_key(tenant_id: TenantId, family_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _families.c.tenant_id == tenant_id, _families.c.family_id == family_id


def _token_key(tenant_id: TenantId, token_hash: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _tokens.c.tenant_id == tenant_id, _tokens.c.token_hash == token_hash


async def _first(connection: AsyncConnection, statement: sa.Executable) -> RowMapping | None:
    return (await connection.execute(statement)).mappings().first()


async def _token(connection: AsyncConnection, tenant_id: TenantId, token_hash: str) -> RefreshToken | None:
    row = await _first(connection, sa.select(_tokens).where(*_token_key(tenant_id, token_hash)))
    return None if row is None else record_from_row(RefreshToken, row)


async def _family(
    connection: AsyncConnection, tenant_id: TenantId, family_id: str, *, lock: bool = False
) -> RefreshFamily | None:
    statement = sa.select(_families).where(*_family_key(tenant_id, family_id))
    row = await _first(connection, statement.with_for_update() if lock else statement)
    return None if row is None else record_from_row(RefreshFamily, row)


class SqlRefreshTokenStore(SqlStore):
    async def create_family(self, family: RefreshFamily, first: RefreshToken, *, from_code: str | None = None) -> None:
        if (first.tenant_id, first.family_id) != (family.tenant_id, family.family_id):
            raise ValueError("the first refresh token must belong to the family it starts")
        async with self._write() as connection:
            await connection.execute(_families.insert().values(row_from_record(family)))
            await connection.execute(_tokens.insert().values(row_from_record(first)))
            if from_code is not None:
                await connection.execute(
                    authorization_codes.update()
                    .where(
                        authorization_codes.c.tenant_id == family.tenant_id,
                        authorization_codes.c.code_hash == from_code,
                    )
                    .values(
                        family_id=family.family_id,
                        access_jti=first.access_jti,
                        access_expires_at=first.access_expires_at,
                    )
                )

    async def get_family(self, tenant_id: TenantId, family_id: str) -> RefreshFamily | None:
        async with self._read() as connection:
            return await _family(connection, tenant_id, family_id)

    async def get(self, tenant_id: TenantId, token_hash: str) -> tuple[RefreshToken, RefreshFamily] | None:
        """The token and its family, used or revoked alike: callers decide what that means."""
        async with self._read() as connection:
            token = await _token(connection, tenant_id, token_hash)
            family = None if token is None else await _family(connection, tenant_id, token.family_id)
        return None if token is None or family is None else (token, family)

    async def get_with_user(
        self, tenant_id: TenantId, token_hash: str
    ) -> tuple[RefreshToken, RefreshFamily, User | None] | None:
        """Three reads in one read transaction (this backend is for tools and tests; the served ones join)."""
        async with self._read() as connection:
            token = await _token(connection, tenant_id, token_hash)
            family = None if token is None else await _family(connection, tenant_id, token.family_id)
            if token is None or family is None:
                return None
            user_row = None
            if family.user_id is not None:
                statement = sa.select(users).where(users.c.tenant_id == tenant_id, users.c.user_id == family.user_id)
                user_row = await _first(connection, statement)
        return token, family, None if user_row is None else record_from_row(User, user_row)

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

        The family row is locked first (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
        serialises writers), so a concurrent :meth:`revoke_family` is either seen or waits for us. The token is
        then claimed with a conditional UPDATE (unused, not idle-expired); only its winner inserts the successor.
        Order of verdicts: unknown, revoked, family expired, already used, token expired. Spec: RFC 9700 §4.14.2.
        """
        async with self._write() as connection:
            token = await _token(connection, tenant_id, token_hash)
            if token is None:
                return RefreshRotation(status="unknown", token=None, family=None)
            if (successor.tenant_id, successor.family_id) != (tenant_id, token.family_id):
                raise ValueError("the successor must belong to the rotated token's family")
            family = await _family(connection, tenant_id, token.family_id, lock=True)
            if family is None:
                return RefreshRotation(status="unknown", token=token, family=None)
            if family.revoked_at is not None:
                return RefreshRotation(status="revoked", token=token, family=family)
            if now >= family.absolute_expires_at:
                return RefreshRotation(status="expired", token=token, family=family)
            claimed = await connection.execute(
                _tokens.update()
                .where(*_token_key(tenant_id, token_hash), _tokens.c.used_at.is_(None), _tokens.c.expires_at > now)
                .values(used_at=now, replaced_by_hash=successor.token_hash, retry_response=retry_response)
            )
            if claimed.rowcount == 1:
                await connection.execute(_tokens.insert().values(row_from_record(successor)))
                used = dataclasses.replace(
                    token, used_at=now, replaced_by_hash=successor.token_hash, retry_response=retry_response
                )
                return RefreshRotation(status="rotated", token=used, family=family)
            # Lost: read the token again (a fresh snapshot under READ COMMITTED) to say why.
            current = await _token(connection, tenant_id, token_hash)
        if current is not None and current.used_at is not None:
            return RefreshRotation(status="already_used", token=current, family=family)
        return RefreshRotation(status="expired", token=current, family=family)

    async def revoke_family(self, tenant_id: TenantId, family_id: str, reason: str, now: Timestamp) -> bool:
        """Revoke the family (once: True iff this call did it) and deny-list its live access tokens.

        The deny list is filled on every call (idempotently), from the family's refresh tokens and from the code
        that started it. Spec: RFC 9700 §4.14.2 (reuse), §4.2.4 (code replay).
        """
        async with self._write() as connection:
            revoked = await connection.execute(
                _families.update()
                .where(*_family_key(tenant_id, family_id), _families.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
            issued = sa.union_all(
                sa.select(_tokens.c.access_jti, _tokens.c.access_expires_at).where(
                    _tokens.c.tenant_id == tenant_id,
                    _tokens.c.family_id == family_id,
                    _tokens.c.access_jti.is_not(None),
                    _tokens.c.access_expires_at > now,
                ),
                sa.select(authorization_codes.c.access_jti, authorization_codes.c.access_expires_at).where(
                    authorization_codes.c.tenant_id == tenant_id,
                    authorization_codes.c.family_id == family_id,
                    authorization_codes.c.access_jti.is_not(None),
                    authorization_codes.c.access_expires_at > now,
                ),
            )
            live = {jti: expires_at for jti, expires_at in await connection.execute(issued)}
            if live:
                await connection.execute(
                    insert_ignoring_duplicates(self._dialect, _denied),
                    [{"tenant_id": tenant_id, "jti": jti, "expires_at": exp} for jti, exp in sorted(live.items())],
                )
        return revoked.rowcount == 1

    async def purge_expired(self, now: Timestamp, *, revoked_retention: float = 86400.0) -> int:
        """Across all tenants. Tokens go first (explicitly, not only by cascade: SQLite enforces foreign keys per
        connection and the purge must not depend on it). A revoked family is kept a while so a late replay of one
        of its tokens is still answered "revoked" rather than "unknown"."""
        doomed = sa.or_(_families.c.absolute_expires_at <= now, _families.c.revoked_at <= now - revoked_retention)
        of_doomed_family = (
            sa.select(sa.literal(1))
            .where(_families.c.tenant_id == _tokens.c.tenant_id, _families.c.family_id == _tokens.c.family_id, doomed)
            .exists()
        )
        async with self._write() as connection:
            await connection.execute(_tokens.delete().where(of_doomed_family))
            result = await connection.execute(_families.delete().where(doomed))
        return result.rowcount


class SqlAccessTokenDenyList(SqlStore):
    async def deny(self, tenant_id: TenantId, jti: str, expires_at: Timestamp) -> None:
        """Idempotent: a second call for the same jti keeps the first entry."""
        async with self._write() as connection:
            await connection.execute(
                insert_ignoring_duplicates(self._dialect, _denied).values(
                    tenant_id=tenant_id, jti=jti, expires_at=expires_at
                )
            )

    async def is_denied(self, tenant_id: TenantId, jti: str) -> bool:
        async with self._read() as connection:
            result = await connection.execute(
                sa.select(sa.literal(1)).where(_denied.c.tenant_id == tenant_id, _denied.c.jti == jti)
            )
            return result.first() is not None

    async def purge_expired(self, now: Timestamp) -> int:
        """Across all tenants, drop entries whose token has expired (``expires_at <= now``); a caller that
        verifies with clock leeway passes ``now - leeway``."""
        async with self._write() as connection:
            result = await connection.execute(_denied.delete().where(_denied.c.expires_at <= now))
        return result.rowcount
