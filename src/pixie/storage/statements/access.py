"""Ending an account's access: what disabling or deleting a client or a user takes away, as statements run in one
transaction.

An account's refresh-token families are revoked (as reuse detection revokes one family) and the live access tokens
recorded on them, or on the codes that started them, are deny-listed, so introspection answers ``active: false`` at
once. Pending authorization requests go, so a sign-in half way through cannot finish, and a code in flight (sealed,
not stored) cannot be redeemed once its user may no longer sign in. For a user, their SSO and dashboard sessions
are revoked too. Deleting also removes the consents, so an account created
later under the same name starts with nothing.

The statements are written once for both owners (``client_id`` or ``user_id``: both columns exist on families,
codes, requests and consents) and filter on the tenant first, the leading column of every key. None of them has an
index of its own on the owner: they run when an administrator acts, not per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pixie.storage.records import EndedAccess
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver, Step
from pixie.types import TenantId, Timestamp

__all__ = ["delete_account", "end_account_access"]

Owner = Literal["client_id", "user_id"]


def _revoke_families(owner: Owner) -> Statement:
    return Statement(
        "UPDATE refresh_families SET revoked_at = :now, revoked_reason = :reason "  # noqa: S608 (names from code)
        f"WHERE tenant_id = :tenant_id AND {owner} = :owner AND revoked_at IS NULL"
    )


def _deny_access_tokens(owner: Owner) -> Statement:
    # The same shape as refresh.DENY_FAMILY, for every family (and code) of the owner; run after the families are
    # revoked, so a rotation that was in flight has committed its successor by then (it held the family's lock).
    return Statement(
        "INSERT INTO revoked_access_tokens (tenant_id, jti, expires_at) "  # noqa: S608 (names from code)
        "SELECT :tenant_id, jti, MAX(expires_at) FROM ("
        "SELECT t.access_jti AS jti, t.access_expires_at AS expires_at FROM refresh_tokens AS t "
        "JOIN refresh_families AS f ON f.tenant_id = t.tenant_id AND f.family_id = t.family_id "
        f"WHERE f.tenant_id = :tenant_id AND f.{owner} = :owner "
        "AND t.access_jti IS NOT NULL AND t.access_expires_at > :now "
        "UNION ALL "
        "SELECT access_jti, access_expires_at FROM authorization_codes "
        f"WHERE tenant_id = :tenant_id AND {owner} = :owner AND access_jti IS NOT NULL AND access_expires_at > :now"
        ") AS issued WHERE TRUE GROUP BY jti ORDER BY jti "
        "ON CONFLICT DO NOTHING"
    )


def _drop_requests(owner: Owner) -> Statement:
    return Statement(f"DELETE FROM authorization_requests WHERE tenant_id = :tenant_id AND {owner} = :owner")  # noqa: S608


def _drop_consents(owner: Owner) -> Statement:
    return Statement(f"DELETE FROM consents WHERE tenant_id = :tenant_id AND {owner} = :owner")  # noqa: S608


REVOKE_SSO_SESSIONS = Statement(
    "UPDATE sso_sessions SET revoked_at = :now WHERE tenant_id = :tenant_id AND user_id = :owner AND revoked_at IS NULL"
)
REVOKE_ADMIN_SESSIONS = Statement(
    "UPDATE admin_sessions SET revoked_at = :now "
    "WHERE tenant_id = :tenant_id AND user_id = :owner AND revoked_at IS NULL"
)
DELETE_CLIENT = Statement("DELETE FROM clients WHERE tenant_id = :tenant_id AND client_id = :owner")
DELETE_USER = Statement("DELETE FROM users WHERE tenant_id = :tenant_id AND user_id = :owner")

_END: Mapping[Owner, tuple[Statement, ...]] = {
    # No codes to drop: a code is sealed until redeemed, and its redemption needs a user who may still sign in (and
    # a client that may still authenticate).
    owner: (_revoke_families(owner), _deny_access_tokens(owner), _drop_requests(owner))
    for owner in ("client_id", "user_id")
}
_SESSIONS: Mapping[Owner, tuple[Statement, ...]] = {
    "client_id": (),
    "user_id": (REVOKE_SSO_SESSIONS, REVOKE_ADMIN_SESSIONS),
}
_DELETE: Mapping[Owner, tuple[Statement, Statement]] = {
    "client_id": (DELETE_CLIENT, _drop_consents("client_id")),
    "user_id": (DELETE_USER, _drop_consents("user_id")),
}


def _end_steps(owner: Owner, params: Mapping[str, object]) -> list[Step]:
    return [(statement, [params]) for statement in (*_END[owner], *_SESSIONS[owner])]


def _ended(owner: Owner, counts: list[int]) -> EndedAccess:
    families, tokens = counts[0], counts[1]
    sessions = counts[3:5] if owner == "user_id" else [0, 0]
    return EndedAccess(
        refresh_families=families, access_tokens=tokens, sso_sessions=sessions[0], admin_sessions=sessions[1]
    )


async def end_account_access(
    db: Driver, owner: Owner, tenant_id: TenantId, account: str, reason: str, now: Timestamp
) -> EndedAccess:
    """Run the steps that end ``account``'s access, in one transaction."""
    params = {"tenant_id": tenant_id, "owner": account, "reason": reason, "now": now}
    return _ended(owner, await db.transaction(_end_steps(owner, params)))


async def delete_account(
    db: Driver, owner: Owner, tenant_id: TenantId, account: str, reason: str, now: Timestamp
) -> EndedAccess | None:
    """Delete the account's row, then end its access and drop its consents, in one transaction; None when there was
    no such account (anything left behind under its name is ended all the same)."""
    params = {"tenant_id": tenant_id, "owner": account, "reason": reason, "now": now}
    row, consents = _DELETE[owner]
    counts = await db.transaction([(row, [params]), *_end_steps(owner, params), (consents, [params])])
    if counts[0] == 0:
        return None
    return _ended(owner, counts[1:-1])
