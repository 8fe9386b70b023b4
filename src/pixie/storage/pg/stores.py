"""The stores whose atomic step PostgreSQL takes its own way: one statement each, a round trip that locks, checks
and writes (refresh-token rotation, a family with its first token, the consent merge)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pixie.storage.pg.database import Database
from pixie.storage.records import AuthorizationCode, Consent, RefreshFamily, RefreshRotation, RefreshToken
from pixie.storage.statements.authorization import RECORD_REDEEMED, RECORD_REDEEMED_SQL, SqlCodeStore, redeemed_params
from pixie.storage.statements.codec import strings_from_json, strings_to_json
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.refresh import (
    FAMILY,
    GET_TOKEN,
    TOKEN,
    SqlRefreshTokenStore,
    check_first,
    split_token_and_family,
)
from pixie.storage.statements.sessions import SqlConsentStore
from pixie.types import TenantId, Timestamp

__all__ = ["PgCodeStore", "PgConsentStore", "PgRefreshTokenStore"]

# The family and its first token in one statement (atomic; the foreign key is checked at its end). Family columns
# are bound as :f_*, the token's as :t_*. Column names come from code; values are always bound.
_NEW_FAMILY = f"family AS ({FAMILY.insert_sql('f_')} RETURNING 1)"
_FIRST_TOKEN = f"INSERT INTO {TOKEN.table} ({TOKEN.columns}) SELECT {TOKEN.parameters('t_')} FROM family"  # noqa: S608
CREATE_FAMILY = Statement(f"WITH {_NEW_FAMILY} {_FIRST_TOKEN}")
# A code's redemption with the family it starts: the code's row first (nothing if the code was redeemed before or its
# user may no longer sign in), then the family and its first token only if that row was written. One statement, one
# round trip: the whole code exchange's storage. Code columns are bound as :c_*.
REDEEM_INTO_FAMILY = Statement(
    f"WITH code AS ({RECORD_REDEEMED_SQL} RETURNING 1), "  # noqa: S608 (names from code, values bound)
    f"family AS (INSERT INTO {FAMILY.table} ({FAMILY.columns}) SELECT {FAMILY.parameters('f_')} FROM code "
    "RETURNING 1) "
    f"{_FIRST_TOKEN}"
)

# Rotation in one statement. The successor's columns are bound as :s_*.
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
#     planner reach the row through the family index instead, reading every token of the family;
#     ``tests/storage/test_pg_plans.py`` holds it to the key.
#  4. ``successor``: inserted only if claimed.
# The row reports whether this call claimed, with the token (snapshot) and the family (current) to say why not.
ROTATE = Statement(
    f"WITH token AS (SELECT {TOKEN.columns} FROM refresh_tokens "  # noqa: S608
    "WHERE tenant_id = :tenant_id AND token_hash = :token_hash), "
    f"family AS MATERIALIZED (SELECT {FAMILY.columns} FROM refresh_families "
    "WHERE tenant_id = :tenant_id AND family_id = (SELECT family_id FROM token) FOR UPDATE), "
    "claimed AS (UPDATE refresh_tokens AS t "
    "SET used_at = :now, replaced_by_hash = :s_token_hash, retry_response = :retry_response FROM family AS f "
    "WHERE t.tenant_id = :tenant_id AND t.token_hash = :token_hash AND t.used_at IS NULL AND t.expires_at > :now "
    "AND f.revoked_at IS NULL AND f.absolute_expires_at > :now AND f.family_id = :s_family_id "
    "AND :s_tenant_id = :tenant_id RETURNING t.token_hash), "
    f"successor AS (INSERT INTO refresh_tokens ({TOKEN.columns}) SELECT {TOKEN.parameters('s_')} FROM claimed) "
    f"SELECT EXISTS (SELECT FROM claimed), {TOKEN.prefixed('token')}, {FAMILY.prefixed('family')} "
    "FROM token LEFT JOIN family ON TRUE"
)

# One upsert: a first grant inserts the (sorted) scopes; a later one, or a concurrent first one that lost the insert
# race, merges under the row lock ON CONFLICT takes. The union is sorted by code point (COLLATE "C", as Python's
# sorted) and written by json_agg in json.dumps' format.
GRANT = Statement(
    "INSERT INTO consents AS c (tenant_id, user_id, client_id, scopes, granted_at) "
    "VALUES (:tenant_id, :user_id, :client_id, :scopes, :granted_at) "
    "ON CONFLICT (tenant_id, user_id, client_id) DO UPDATE SET "
    "scopes = (SELECT COALESCE(json_agg(u.scope ORDER BY u.scope COLLATE \"C\"), '[]'::json) FROM ("
    "SELECT json_array_elements_text(c.scopes) UNION SELECT json_array_elements_text(EXCLUDED.scopes)"
    ") AS u(scope)), "
    "granted_at = EXCLUDED.granted_at "
    "RETURNING scopes"
)


class PgRefreshTokenStore(SqlRefreshTokenStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._pg = db

    async def create_family(self, family: RefreshFamily, first: RefreshToken) -> None:
        """One statement instead of a transaction of two: one round trip."""
        check_first(family, first)
        await self._pg.execute(CREATE_FAMILY, {**FAMILY.encode(family, "f_"), **TOKEN.encode(first, "t_")})

    async def rotate(
        self,
        tenant_id: TenantId,
        token_hash: str,
        successor: RefreshToken,
        now: Timestamp,
        *,
        retry_response: bytes | None = None,
    ) -> RefreshRotation:
        """Mark the token used and insert ``successor`` in one statement (see ``ROTATE``)."""
        params = {
            "tenant_id": tenant_id,
            "token_hash": token_hash,
            "now": now,
            "retry_response": retry_response,
            **TOKEN.encode(successor, "s_"),
        }
        rows = await self._pg.execute_returning(ROTATE, params)
        if not rows:
            return RefreshRotation(status="unknown", token=None, family=None)
        claimed = rows[0]
        token, family = split_token_and_family(claimed, start=1)
        if (successor.tenant_id, successor.family_id) != (tenant_id, token.family_id):
            raise ValueError("the successor must belong to the rotated token's family")  # nothing was written
        if family is None:
            return RefreshRotation(status="unknown", token=token, family=None)
        if claimed[0]:
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
            current = await self._pg.fetch_one(GET_TOKEN, {"tenant_id": tenant_id, "token_hash": token_hash})
            token = token if current is None else TOKEN.decode(current)
        if token.used_at is not None:
            return RefreshRotation(status="already_used", token=token, family=family)
        return RefreshRotation(status="expired", token=token, family=family)


class PgCodeStore(SqlCodeStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._pg = db

    async def _record(self, code: AuthorizationCode, family: RefreshFamily | None, first: RefreshToken | None) -> bool:
        """One statement either way (see ``REDEEM_INTO_FAMILY``)."""
        params = redeemed_params(code)
        if family is None or first is None:
            return await self._pg.execute(RECORD_REDEEMED, params) == 1
        params.update(FAMILY.encode(family, "f_"))
        params.update(TOKEN.encode(first, "t_"))
        return await self._pg.execute(REDEEM_INTO_FAMILY, params) == 1


class PgConsentStore(SqlConsentStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._pg = db

    async def grant(
        self, tenant_id: TenantId, user_id: str, client_id: str, scopes: Sequence[str], now: Timestamp
    ) -> Consent:
        """One statement (see ``GRANT``), so two concurrent grants (first or not) both end up in the union."""
        params = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "client_id": client_id,
            "scopes": strings_to_json(tuple(sorted(set(scopes)))),
            "granted_at": now,
        }
        (row,) = await self._pg.execute_returning(GRANT, params)  # an upsert always returns its row
        merged = strings_from_json(row[0])
        return Consent(tenant_id=tenant_id, user_id=user_id, client_id=client_id, scopes=merged, granted_at=now)
