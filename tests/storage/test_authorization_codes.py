"""CodeStore and AuthorizationRequestStore contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import AuthorizationCode
from pixie.storage.statements.authorization import CODE_RETENTION_SECONDS

from . import factories as f
from .factories import NOW, OTHER, TENANT

# --- authorization codes: sealed until redeemed, stored at redemption ------------------------------------------


async def _user(storage: Storage, tenant: str = TENANT, user_id: str = "u1", **changes: object) -> None:
    await storage.users.create(f.user(tenant, user_id=user_id, username=f"user-{user_id}", **changes))


def _redeemed(tenant: str = TENANT, **changes: object) -> AuthorizationCode:
    """A code as the token endpoint redeems it: consumed now, with the access token it produced."""
    values: dict[str, object] = {
        "consumed_at": NOW + 1,
        "access_jti": f.token_hash()[:22],
        "access_expires_at": NOW + 301,
    }
    return f.code(tenant, **(values | changes))


async def test_redeem_records_the_code_and_what_it_produced(storage: Storage) -> None:
    """ARCHITECTURE §6.3: the first redemption writes the code's row, bindings and what it produced included."""
    await _user(storage)
    code = _redeemed(redirect_uri_provided=True)
    outcome = await storage.codes.redeem(code)
    assert (outcome.status, outcome.code) == ("redeemed", code)
    assert await storage.codes.get(TENANT, code.code_hash) == code


async def test_redeem_single_use(storage: Storage) -> None:
    """RFC 9700 §4.2.4 / ARCHITECTURE §6.3: a code is single use — of 20 concurrent redemptions, each starting a
    family of its own, exactly one wins; the others are told apart as replays, with the winner's record, and their
    families are never written."""
    await _user(storage)
    code_hash = f.token_hash()
    attempts = []
    for _ in range(20):
        family = f.family()
        attempts.append((_redeemed(code_hash=code_hash, family_id=family.family_id), family, f.refresh_token(family)))
    outcomes = await asyncio.gather(*(storage.codes.redeem(*attempt) for attempt in attempts))
    assert Counter(o.status for o in outcomes) == {"redeemed": 1, "replayed": 19}
    [winner] = [attempt for attempt, o in zip(attempts, outcomes, strict=True) if o.status == "redeemed"]
    for outcome in outcomes:
        assert outcome.code == winner[0]
    for code, family, _ in attempts:
        stored = await storage.refresh.get_family(TENANT, family.family_id)
        assert (stored is not None) == (code is winner[0])


async def test_a_replay_reports_what_the_first_redemption_produced(storage: Storage) -> None:
    """RFC 9700 §4.2.4: a replay must be told apart, with the recorded family and access token, to revoke them;
    the replay's own family is not written."""
    await _user(storage)
    family = f.family()
    first = f.refresh_token(family, access_jti="jti-first", access_expires_at=NOW + 301)
    code = _redeemed(family_id=family.family_id, access_jti="jti-first")
    assert (await storage.codes.redeem(code, family, first)).status == "redeemed"
    assert await storage.refresh.get_family(TENANT, family.family_id) == family
    again = f.family()
    replay = await storage.codes.redeem(
        dataclasses.replace(code, consumed_at=NOW + 2, family_id=again.family_id), again, f.refresh_token(again)
    )
    assert replay.status == "replayed" and replay.code is not None
    assert (replay.code.consumed_at, replay.code.family_id, replay.code.access_jti) == (
        NOW + 1,
        family.family_id,
        "jti-first",
    )
    assert await storage.refresh.get_family(TENANT, again.family_id) is None


async def test_a_user_who_may_no_longer_sign_in_redeems_nothing(storage: Storage) -> None:
    """Ending a user's access ends their codes in flight: for a user who is gone or disabled, nothing is written
    (neither the code's row nor its family) and the outcome is ``unknown``."""
    await _user(storage, user_id="disabled", disabled=True)
    for user_id in ("gone", "disabled"):
        family = f.family(user_id=user_id)
        code = _redeemed(user_id=user_id, family_id=family.family_id)
        outcome = await storage.codes.redeem(code, family, f.refresh_token(family))
        assert (outcome.status, outcome.code) == ("unknown", None)
        assert await storage.codes.get(TENANT, code.code_hash) is None
        assert await storage.refresh.get_family(TENANT, family.family_id) is None


async def test_a_code_belongs_to_its_tenant(storage: Storage) -> None:
    """Keys are per tenant: the same hash redeemed in two tenants makes two rows; each tenant sees its own."""
    await _user(storage)
    await _user(storage, OTHER)
    shared = f.token_hash()
    mine, theirs = (
        _redeemed(code_hash=shared, access_jti="mine"),
        _redeemed(OTHER, code_hash=shared, access_jti="theirs"),
    )
    assert (await storage.codes.redeem(mine)).status == "redeemed"
    assert (await storage.codes.redeem(theirs)).status == "redeemed"
    assert await storage.codes.get(TENANT, shared) == mine
    assert await storage.codes.get(OTHER, shared) == theirs
    assert await storage.codes.get(TENANT, f.token_hash()) is None


async def test_a_family_comes_with_its_first_token_and_its_code_names_it(storage: Storage) -> None:
    family = f.family()
    with pytest.raises(ValueError, match="first token"):
        await storage.codes.redeem(_redeemed(family_id=family.family_id), family, None)
    with pytest.raises(ValueError, match="name the family"):
        await storage.codes.redeem(_redeemed(family_id="another"), family, f.refresh_token(family))


async def test_purge_keeps_codes_a_replay_still_matters_for(storage: Storage) -> None:
    """Codes are kept CODE_RETENTION_SECONDS past expiry, and while their access token lives (RFC 9700 §4.2.4)."""
    await _user(storage)
    await _user(storage, OTHER)
    old = _redeemed(expires_at=NOW, access_expires_at=NOW)
    old_with_live_token = _redeemed(expires_at=NOW, access_expires_at=NOW + 2 * CODE_RETENTION_SECONDS)
    recent = _redeemed(expires_at=NOW + CODE_RETENTION_SECONDS, access_expires_at=NOW)
    elsewhere = _redeemed(OTHER, expires_at=NOW, access_expires_at=NOW)
    for code in (old, old_with_live_token, recent, elsewhere):
        assert (await storage.codes.redeem(code)).status == "redeemed"
    assert await storage.codes.purge_expired(NOW + CODE_RETENTION_SECONDS + 1) == 2  # across tenants
    assert await storage.codes.get(TENANT, old.code_hash) is None
    assert await storage.codes.get(OTHER, elsewhere.code_hash) is None
    assert await storage.codes.get(TENANT, old_with_live_token.code_hash) == old_with_live_token
    assert await storage.codes.get(TENANT, recent.code_hash) == recent


# --- authorization requests --------------------------------------------------------------------------------------


async def test_request_round_trip(storage: Storage) -> None:
    """RFC 6749 §4.1.1 / RFC 7636 §4.3: the validated request comes back exactly (tuples, None state, flags)."""
    request = f.request(state=None, redirect_uri_provided=False, prompt=())
    await storage.requests.create(request)
    assert await storage.requests.get(TENANT, request.request_id, NOW) == request


async def test_request_expires(storage: Storage) -> None:
    request = f.request(expires_at=NOW + 600)
    await storage.requests.create(request)
    assert await storage.requests.get(TENANT, request.request_id, NOW + 599) is not None
    assert await storage.requests.get(TENANT, request.request_id, NOW + 600) is None


async def test_request_is_scoped_to_its_tenant(storage: Storage) -> None:
    request = f.request()
    await storage.requests.create(request)
    assert await storage.requests.get(OTHER, request.request_id, NOW) is None
    assert not await storage.requests.set_user(OTHER, request.request_id, "mallory", NOW)
    assert not await storage.requests.delete(OTHER, request.request_id)
    assert await storage.requests.get(TENANT, request.request_id, NOW) == request


async def test_set_user_records_who_logged_in(storage: Storage) -> None:
    request = f.request()
    await storage.requests.create(request)
    assert await storage.requests.set_user(TENANT, request.request_id, "u1", NOW + 5)
    stored = await storage.requests.get(TENANT, request.request_id, NOW + 6)
    assert stored is not None and (stored.user_id, stored.auth_time) == ("u1", NOW + 5)
    assert not await storage.requests.set_user(TENANT, "no-such-request", "u1", NOW)


async def test_request_completes_once(storage: Storage) -> None:
    """ARCHITECTURE §6.3: of 20 concurrent completions of one request exactly one deletes it (and issues a code)."""
    request = f.request()
    await storage.requests.create(request)
    deleted = await asyncio.gather(*(storage.requests.delete(TENANT, request.request_id) for _ in range(20)))
    assert deleted.count(True) == 1
    assert await storage.requests.get(TENANT, request.request_id, NOW) is None


async def test_duplicate_request_is_rejected(storage: Storage) -> None:
    request = f.request()
    await storage.requests.create(request)
    with pytest.raises(AlreadyExists):
        await storage.requests.create(request)


async def test_purge_expired_requests(storage: Storage) -> None:
    expired = [f.request(expires_at=NOW), f.request(OTHER, expires_at=NOW - 1)]
    live = f.request(expires_at=NOW + 1)
    for request in [*expired, live]:
        await storage.requests.create(request)
    assert await storage.requests.purge_expired(NOW) == 2
    assert await storage.requests.purge_expired(NOW) == 0
    assert await storage.requests.get(TENANT, live.request_id, NOW) == live
