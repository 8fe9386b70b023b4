"""RefreshTokenStore and AccessTokenDenyList contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import RefreshFamily, RefreshToken

from . import factories as f
from .factories import NOW, OTHER, TENANT


async def _family(storage: Storage, **changes: object) -> tuple[RefreshFamily, RefreshToken]:
    family = f.family(**changes)
    first = f.refresh_token(family)
    await storage.refresh.create_family(family, first)
    return family, first


async def test_family_round_trip(storage: Storage) -> None:
    family, first = await _family(storage, user_id=None, auth_time=None)
    assert await storage.refresh.get_family(TENANT, family.family_id) == family
    assert await storage.refresh.get(TENANT, first.token_hash) == (first, family)
    assert await storage.refresh.get(TENANT, f.token_hash()) is None


async def test_get_with_user_adds_the_family_user(storage: Storage) -> None:
    """What the refresh grant reads: the token, its family and the family's user (None for a client's own family,
    a user gone, or a user of that id in another tenant), used or revoked alike."""
    user = f.user(roles=("owner",), disabled=True)
    await storage.users.create(user)
    await storage.users.create(f.user(tenant_id=OTHER, user_id="u9", username="bob"))
    family, first = await _family(storage, revoked_at=NOW + 1, revoked_reason="logout")
    machine, machine_first = await _family(storage, user_id=None, auth_time=None)
    orphan, orphan_first = await _family(storage, user_id="gone")
    foreign, foreign_first = await _family(storage, user_id="u9")  # u9 exists only in OTHER
    assert await storage.refresh.get_with_user(TENANT, first.token_hash) == (first, family, user)
    assert await storage.refresh.get_with_user(TENANT, machine_first.token_hash) == (machine_first, machine, None)
    assert await storage.refresh.get_with_user(TENANT, orphan_first.token_hash) == (orphan_first, orphan, None)
    assert await storage.refresh.get_with_user(TENANT, foreign_first.token_hash) == (foreign_first, foreign, None)
    assert await storage.refresh.get_with_user(OTHER, first.token_hash) is None
    assert await storage.refresh.get_with_user(TENANT, f.token_hash()) is None


async def test_family_is_scoped_to_its_tenant(storage: Storage) -> None:
    family, first = await _family(storage)
    assert await storage.refresh.get_family(OTHER, family.family_id) is None
    assert await storage.refresh.get(OTHER, first.token_hash) is None
    assert (await storage.refresh.rotate(OTHER, first.token_hash, f.refresh_token(family), NOW)).status == "unknown"
    assert not await storage.refresh.revoke_family(OTHER, family.family_id, "test", NOW)
    assert await storage.refresh.get(TENANT, first.token_hash) == (first, family)


async def test_duplicate_family_is_rejected_and_writes_nothing(storage: Storage) -> None:
    family, first = await _family(storage)
    with pytest.raises(AlreadyExists):
        await storage.refresh.create_family(family, f.refresh_token(family))
    second_family = f.family()
    with pytest.raises(AlreadyExists):  # duplicate first token: the new family must not be left behind
        await storage.refresh.create_family(
            second_family, dataclasses.replace(first, family_id=second_family.family_id)
        )
    assert await storage.refresh.get_family(TENANT, second_family.family_id) is None


async def test_rotate_marks_used_and_inserts_successor(storage: Storage) -> None:
    """RFC 9700 §4.14.2: rotation issues a new token and invalidates the old one."""
    family, first = await _family(storage)
    successor = f.refresh_token(family, created_at=NOW + 10)
    outcome = await storage.refresh.rotate(TENANT, first.token_hash, successor, NOW + 10, retry_response=b"sealed")
    used = dataclasses.replace(first, used_at=NOW + 10, replaced_by_hash=successor.token_hash, retry_response=b"sealed")
    assert (outcome.status, outcome.token, outcome.family) == ("rotated", used, family)
    assert await storage.refresh.get(TENANT, first.token_hash) == (used, family)
    assert await storage.refresh.get(TENANT, successor.token_hash) == (successor, family)


async def test_rotate_single_winner(storage: Storage) -> None:
    """RFC 9700 §4.14.2 / ARCHITECTURE §6.4: of 20 concurrent rotations of one token exactly one wins, and the
    family never branches — exactly one successor row exists afterwards."""
    family, first = await _family(storage)
    successors = [f.refresh_token(family) for _ in range(20)]
    outcomes = await asyncio.gather(
        *(storage.refresh.rotate(TENANT, first.token_hash, s, NOW + 1, retry_response=b"r") for s in successors)
    )
    assert Counter(o.status for o in outcomes) == {"rotated": 1, "already_used": 19}
    (winner,) = [s for s, o in zip(successors, outcomes, strict=True) if o.status == "rotated"]
    existing = [s for s in successors if await storage.refresh.get(TENANT, s.token_hash) is not None]
    assert existing == [winner]
    for outcome in outcomes:
        assert outcome.token is not None and outcome.token.replaced_by_hash == winner.token_hash


async def test_reuse_of_a_rotated_token_reports_already_used(storage: Storage) -> None:
    """RFC 9700 §4.14.2: presenting a rotated token is detected; the grace logic gets used_at and retry_response."""
    family, first = await _family(storage)
    successor = f.refresh_token(family)
    await storage.refresh.rotate(TENANT, first.token_hash, successor, NOW + 1, retry_response=b"pair")
    again = await storage.refresh.rotate(TENANT, first.token_hash, f.refresh_token(family), NOW + 2)
    assert again.status == "already_used"
    assert again.token is not None and again.family == family
    assert (again.token.used_at, again.token.retry_response) == (NOW + 1, b"pair")


async def test_rotate_on_revoked_family_writes_nothing(storage: Storage) -> None:
    """ARCHITECTURE §6.4: once a family is revoked no token of it rotates, and nothing is written."""
    family, first = await _family(storage)
    assert await storage.refresh.revoke_family(TENANT, family.family_id, "reuse", NOW + 1)
    successor = f.refresh_token(family)
    outcome = await storage.refresh.rotate(TENANT, first.token_hash, successor, NOW + 2)
    assert outcome.status == "revoked"
    assert outcome.family is not None and outcome.family.revoked_reason == "reuse"
    assert await storage.refresh.get(TENANT, successor.token_hash) is None
    stored = await storage.refresh.get(TENANT, first.token_hash)
    assert stored is not None and stored[0] == first  # not marked used


async def test_rotate_refuses_expired_tokens_and_families(storage: Storage) -> None:
    """RFC 9700 §4.14.2: idle expiry (token ``expires_at``) and absolute expiry (family) both end rotation."""
    family, first = await _family(storage, absolute_expires_at=NOW + 100)
    successor = f.refresh_token(family)
    assert (await storage.refresh.rotate(TENANT, first.token_hash, successor, NOW + 100)).status == "expired"
    idle_family, idle = await _family(storage)
    late = idle.expires_at
    outcome = await storage.refresh.rotate(TENANT, idle.token_hash, f.refresh_token(idle_family), late)
    assert outcome.status == "expired"
    assert outcome.token == idle
    assert await storage.refresh.get(TENANT, successor.token_hash) is None


async def test_rotate_unknown_token(storage: Storage) -> None:
    family = f.family()
    outcome = await storage.refresh.rotate(TENANT, f.token_hash(), f.refresh_token(family), NOW)
    assert (outcome.status, outcome.token, outcome.family) == ("unknown", None, None)


async def test_successor_must_join_the_same_family(storage: Storage) -> None:
    family, first = await _family(storage)
    stranger = f.refresh_token(f.family())
    with pytest.raises(ValueError, match="family"):
        await storage.refresh.rotate(TENANT, first.token_hash, stranger, NOW)
    assert await storage.refresh.get(TENANT, first.token_hash) == (first, family)


async def test_revoke_family_once(storage: Storage) -> None:
    """revoke_family returns True only for the call that revoked; the first reason and time are kept."""
    family, _ = await _family(storage)
    assert await storage.refresh.revoke_family(TENANT, family.family_id, "logout", NOW + 1)
    assert not await storage.refresh.revoke_family(TENANT, family.family_id, "reuse", NOW + 2)
    stored = await storage.refresh.get_family(TENANT, family.family_id)
    assert stored is not None and (stored.revoked_at, stored.revoked_reason) == (NOW + 1, "logout")
    assert not await storage.refresh.revoke_family(TENANT, "no-such-family", "x", NOW)


async def test_revoke_session_revokes_the_live_families_of_one_sid(storage: Storage) -> None:
    """OpenID Connect RP-Initiated Logout: every live family of the session goes, with its access tokens; families
    of other sessions, other tenants and without a sid stay."""
    mine = [(await _family(storage, sid="sid-1"))[0] for _ in range(2)]
    revoked_before, _ = await _family(storage, sid="sid-1")
    await storage.refresh.revoke_family(TENANT, revoked_before.family_id, "reuse", NOW)
    others = [
        (await _family(storage, sid="sid-2"))[0],
        (await _family(storage))[0],
        (await _family(storage, tenant_id=OTHER, sid="sid-1"))[0],
    ]
    assert await storage.refresh.revoke_session(TENANT, "sid-1", "logout", NOW + 1) == 2
    for family in mine:
        stored = await storage.refresh.get_family(TENANT, family.family_id)
        assert stored is not None and stored.revoked_reason == "logout"
    kept = await storage.refresh.get_family(TENANT, revoked_before.family_id)
    assert kept is not None and kept.revoked_reason == "reuse"
    for family in others:
        stored = await storage.refresh.get_family(family.tenant_id, family.family_id)
        assert stored is not None and stored.revoked_at is None
    assert await storage.refresh.revoke_session(TENANT, "sid-1", "logout", NOW + 2) == 0


async def test_revoke_family_deny_lists_its_live_access_tokens(storage: Storage) -> None:
    """RFC 9700 §4.14.2 and §4.2.4: revoking a family revokes the access tokens issued from it — from its refresh
    tokens and from the code that started it — except those that already expired."""
    family, first = await _family(storage)
    second = f.refresh_token(family, access_jti="jti-second")
    await storage.refresh.rotate(TENANT, first.token_hash, second, NOW + 1)
    code = f.code(family_id=family.family_id, access_jti="jti-code", access_expires_at=NOW + 300)
    expired = f.code(family_id=family.family_id, access_jti="jti-old", access_expires_at=NOW + 5)
    foreign = f.code(OTHER, family_id=family.family_id, access_jti="jti-foreign", access_expires_at=NOW + 300)
    await storage.users.create(f.user())
    await storage.users.create(f.user(OTHER))
    for issued in (code, expired, foreign):
        assert (await storage.codes.redeem(dataclasses.replace(issued, consumed_at=NOW))).status == "redeemed"
    assert await storage.refresh.revoke_family(TENANT, family.family_id, "reuse", NOW + 10)
    assert first.access_jti is not None
    for jti in (first.access_jti, "jti-second", "jti-code"):
        assert await storage.denylist.is_denied(TENANT, jti), jti
    assert not await storage.denylist.is_denied(TENANT, "jti-old")
    assert not await storage.denylist.is_denied(TENANT, "jti-foreign")
    assert not await storage.denylist.is_denied(OTHER, "jti-foreign")
    # A second revocation is harmless (duplicates are ignored) and reports False.
    assert not await storage.refresh.revoke_family(TENANT, family.family_id, "reuse", NOW + 11)


async def test_concurrent_rotation_and_revocation_never_leave_a_live_branch(storage: Storage) -> None:
    """ARCHITECTURE §6.4: racing a rotation against a revocation, the family ends revoked and, if the rotation won
    the race, its new access token is deny-listed too."""
    family, first = await _family(storage)
    successor = f.refresh_token(family, access_jti="jti-successor")
    rotation, revoked = await asyncio.gather(
        storage.refresh.rotate(TENANT, first.token_hash, successor, NOW + 1),
        storage.refresh.revoke_family(TENANT, family.family_id, "logout", NOW + 1),
    )
    assert revoked
    assert rotation.status in {"rotated", "revoked"}
    assert await storage.denylist.is_denied(TENANT, "jti-successor") == (rotation.status == "rotated")


# --- access-token deny list --------------------------------------------------------------------------------------


async def test_deny_is_idempotent_and_tenant_scoped(storage: Storage) -> None:
    """RFC 7009 §2.2: revoking an access token twice is not an error."""
    assert not await storage.denylist.is_denied(TENANT, "jti-1")
    await storage.denylist.deny(TENANT, "jti-1", NOW + 300)
    await storage.denylist.deny(TENANT, "jti-1", NOW + 300)
    assert await storage.denylist.is_denied(TENANT, "jti-1")
    assert not await storage.denylist.is_denied(OTHER, "jti-1")


async def test_purge_expired_deny_entries(storage: Storage) -> None:
    await storage.denylist.deny(TENANT, "gone", NOW)
    await storage.denylist.deny(OTHER, "gone-too", NOW - 1)
    await storage.denylist.deny(TENANT, "live", NOW + 1)
    assert await storage.denylist.purge_expired(NOW) == 2
    assert not await storage.denylist.is_denied(TENANT, "gone")
    assert await storage.denylist.is_denied(TENANT, "live")


async def test_purge_expired_families(storage: Storage) -> None:
    """Housekeeping (issue 4 item 6): families past their absolute lifetime, and revoked ones after the retention
    period, are deleted with their tokens; live and recently revoked families stay."""
    live, expired, old_revoked, fresh_revoked = (
        f.family(),
        f.family(absolute_expires_at=NOW - 1),
        f.family(),
        f.family(),
    )
    tokens = {}
    for fam in (live, expired, old_revoked, fresh_revoked):
        tokens[fam.family_id] = f.refresh_token(fam)
        await storage.refresh.create_family(fam, tokens[fam.family_id])
    await storage.refresh.revoke_family(TENANT, old_revoked.family_id, "test", NOW - 2 * 86400)
    await storage.refresh.revoke_family(TENANT, fresh_revoked.family_id, "test", NOW - 60)
    assert await storage.refresh.purge_expired(NOW) == 2
    for fam, kept in ((live, True), (expired, False), (old_revoked, False), (fresh_revoked, True)):
        assert (await storage.refresh.get_family(TENANT, fam.family_id) is not None) is kept
        assert (await storage.refresh.get(TENANT, tokens[fam.family_id].token_hash) is not None) is kept
