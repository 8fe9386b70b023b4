"""The stores whose atomic step SQLite takes its own way: a unit of work that reads and writes under the write lock
(``BEGIN IMMEDIATE``, taken before the first read), so what it read is current when it writes."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence

from pixie.storage.records import AuthorizationCode, Consent, RefreshFamily, RefreshRotation, RefreshToken
from pixie.storage.sqlite.database import Database
from pixie.storage.statements.authorization import RECORD_REDEEMED, SqlCodeStore, redeemed_params
from pixie.storage.statements.codec import strings_from_json, strings_to_json
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.refresh import (
    FAMILY,
    GET_WITH_FAMILY,
    TOKEN,
    SqlRefreshTokenStore,
    split_token_and_family,
)
from pixie.storage.statements.sessions import SqlConsentStore
from pixie.types import TenantId, Timestamp

__all__ = ["SqliteCodeStore", "SqliteConsentStore", "SqliteRefreshTokenStore"]

CLAIM = Statement(
    "UPDATE refresh_tokens SET used_at = :now, replaced_by_hash = :successor_hash, retry_response = :retry_response "
    "WHERE tenant_id = :tenant_id AND token_hash = :token_hash AND used_at IS NULL AND expires_at > :now"
)
CONSENTED_SCOPES = Statement(
    "SELECT scopes FROM consents WHERE tenant_id = :tenant_id AND user_id = :user_id AND client_id = :client_id"
)
SAVE_CONSENT = Statement(
    "INSERT INTO consents (tenant_id, user_id, client_id, scopes, granted_at) "
    "VALUES (:tenant_id, :user_id, :client_id, :scopes, :granted_at) "
    "ON CONFLICT (tenant_id, user_id, client_id) "
    "DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at"
)


class SqliteRefreshTokenStore(SqlRefreshTokenStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._sqlite = db

    async def rotate(
        self,
        tenant_id: TenantId,
        token_hash: str,
        successor: RefreshToken,
        now: Timestamp,
        *,
        retry_response: bytes | None = None,
    ) -> RefreshRotation:
        """Read the token and its family, claim the token and insert ``successor``, in one unit of work.

        The write lock is held from the first read, so a concurrent :meth:`revoke_family` (this or another process)
        is either seen or waits for us, and the token read is current. The claim is still a conditional UPDATE
        (unused, not idle-expired), and only its winner inserts the successor. Spec: RFC 9700 §4.14.2.
        """
        found_sql = GET_WITH_FAMILY.sqlite
        found_args = GET_WITH_FAMILY.sqlite_args({"tenant_id": tenant_id, "token_hash": token_hash})
        claim_args = CLAIM.sqlite_args(
            {
                "tenant_id": tenant_id,
                "token_hash": token_hash,
                "now": now,
                "successor_hash": successor.token_hash,
                "retry_response": retry_response,
            }
        )
        insert_args = TOKEN.values(successor)  # the INSERT binds the columns in order

        def claim(connection: sqlite3.Connection) -> RefreshRotation:
            row = connection.execute(found_sql, found_args).fetchone()
            if row is None:
                return RefreshRotation(status="unknown", token=None, family=None)
            token, family = split_token_and_family(row)
            if (successor.tenant_id, successor.family_id) != (tenant_id, token.family_id):
                raise ValueError("the successor must belong to the rotated token's family")
            if family is None:
                return RefreshRotation(status="unknown", token=token, family=None)
            if family.revoked_at is not None:
                return RefreshRotation(status="revoked", token=token, family=family)
            if now >= family.absolute_expires_at:
                return RefreshRotation(status="expired", token=token, family=family)
            if connection.execute(CLAIM.sqlite, claim_args).rowcount == 1:
                connection.execute(TOKEN.insert.sqlite, insert_args)
                used = dataclasses.replace(
                    token, used_at=now, replaced_by_hash=successor.token_hash, retry_response=retry_response
                )
                return RefreshRotation(status="rotated", token=used, family=family)
            # Lost: the row read above is current (we hold the write lock), so it says why.
            if token.used_at is not None:
                return RefreshRotation(status="already_used", token=token, family=family)
            return RefreshRotation(status="expired", token=token, family=family)

        return await self._sqlite.write(claim)


class SqliteCodeStore(SqlCodeStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._sqlite = db

    async def _record(self, code: AuthorizationCode, family: RefreshFamily | None, first: RefreshToken | None) -> bool:
        """One unit of work: the code's row, then the family and its first token only if that row was written."""
        code_sql, code_args = RECORD_REDEEMED.sqlite, RECORD_REDEEMED.sqlite_args(redeemed_params(code))
        rows = [] if family is None or first is None else [(FAMILY.values(family), TOKEN.values(first))]

        def record(connection: sqlite3.Connection) -> bool:
            if connection.execute(code_sql, code_args).rowcount != 1:
                return False
            for family_values, token_values in rows:
                connection.execute(FAMILY.insert.sqlite, family_values)
                connection.execute(TOKEN.insert.sqlite, token_values)
            return True

        return await self._sqlite.write(record)


class SqliteConsentStore(SqlConsentStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._sqlite = db

    async def grant(
        self, tenant_id: TenantId, user_id: str, client_id: str, scopes: Sequence[str], now: Timestamp
    ) -> Consent:
        """Read the scopes granted before and upsert the union, in one unit of work under the write lock, so two
        concurrent grants both end up in the union."""
        key = {"tenant_id": tenant_id, "user_id": user_id, "client_id": client_id}

        def merge(connection: sqlite3.Connection) -> tuple[str, ...]:
            row = connection.execute(CONSENTED_SCOPES.sqlite, CONSENTED_SCOPES.sqlite_args(key)).fetchone()
            before = strings_from_json(row[0]) if row is not None else ()
            merged = tuple(sorted(set(before) | set(scopes)))
            saved = {**key, "scopes": strings_to_json(merged), "granted_at": now}
            connection.execute(SAVE_CONSENT.sqlite, SAVE_CONSENT.sqlite_args(saved))
            return merged

        merged = await self._sqlite.write(merge)
        return Consent(tenant_id=tenant_id, user_id=user_id, client_id=client_id, scopes=merged, granted_at=now)
