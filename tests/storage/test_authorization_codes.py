"""CodeStore and AuthorizationRequestStore contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.statements.authorization import CODE_RETENTION_SECONDS

from . import factories as f
from .factories import NOW, OTHER, TENANT

# --- authorization codes -----------------------------------------------------------------------------------------


async def test_redeem_returns_the_stored_code(storage: Storage) -> None:
    """ARCHITECTURE §6.3: a code carries its bindings (client, redirect URI, challenge) back to the token request."""
    code = f.code(redirect_uri_provided=True)
    await storage.codes.create(code)
    outcome = await storage.codes.redeem(TENANT, code.code_hash, NOW + 1)
    assert outcome.status == "redeemed"
    assert outcome.code == dataclasses.replace(code, consumed_at=NOW + 1)
    assert isinstance(outcome.code.scopes, tuple)


async def test_redeem_single_use(storage: Storage) -> None:
    """RFC 9700 §4.2.4 / ARCHITECTURE §6.3: a code is single use — of 20 concurrent redemptions exactly one wins."""
    code = f.code()
    await storage.codes.create(code)
    outcomes = await asyncio.gather(*(storage.codes.redeem(TENANT, code.code_hash, NOW + 1) for _ in range(20)))
    assert Counter(o.status for o in outcomes) == {"redeemed": 1, "replayed": 19}
    for outcome in outcomes:
        assert outcome.code is not None and outcome.code.consumed_at == NOW + 1


async def test_second_redemption_is_a_replay_that_reports_what_was_issued(storage: Storage) -> None:
    """RFC 9700 §4.2.4: a replay must be told apart (to revoke what the code produced), with the recorded ids."""
    code = f.code()
    await storage.codes.create(code)
    assert (await storage.codes.redeem(TENANT, code.code_hash, NOW + 1)).status == "redeemed"
    await storage.codes.record_issued(
        TENANT, code.code_hash, family_id="fam-1", access_jti="jti-1", access_expires_at=NOW + 301
    )
    replay = await storage.codes.redeem(TENANT, code.code_hash, NOW + 2)
    assert replay.status == "replayed"
    assert replay.code is not None
    assert (replay.code.consumed_at, replay.code.family_id, replay.code.access_jti) == (NOW + 1, "fam-1", "jti-1")
    assert replay.code.access_expires_at == NOW + 301


async def test_code_expiry(storage: Storage) -> None:
    """ARCHITECTURE §6.3 (≤ 60 s lifetime): at or after ``expires_at`` a code is ``expired`` and stays unconsumed."""
    code = f.code(expires_at=NOW + 60)
    await storage.codes.create(code)
    at_expiry = await storage.codes.redeem(TENANT, code.code_hash, NOW + 60)
    assert at_expiry.status == "expired"
    assert at_expiry.code is not None and at_expiry.code.consumed_at is None
    assert (await storage.codes.redeem(TENANT, code.code_hash, NOW + 3600)).status == "expired"


async def test_replay_after_expiry_is_still_a_replay(storage: Storage) -> None:
    """RFC 9700 §4.2.4: a late replay still revokes, so ``replayed`` wins over ``expired``."""
    code = f.code()
    await storage.codes.create(code)
    await storage.codes.redeem(TENANT, code.code_hash, NOW + 1)
    assert (await storage.codes.redeem(TENANT, code.code_hash, NOW + 3600)).status == "replayed"


async def test_unknown_code(storage: Storage) -> None:
    """RFC 6749 §5.2 invalid_grant: an unknown code hash is ``unknown`` with no record."""
    outcome = await storage.codes.redeem(TENANT, f.token_hash(), NOW)
    assert (outcome.status, outcome.code) == ("unknown", None)


async def test_code_is_scoped_to_its_tenant(storage: Storage) -> None:
    """Multi-tenancy: another tenant cannot redeem (or burn) a tenant's code."""
    code = f.code()
    await storage.codes.create(code)
    assert (await storage.codes.redeem(OTHER, code.code_hash, NOW + 1)).status == "unknown"
    await storage.codes.record_issued(OTHER, code.code_hash, family_id="x", access_jti="x", access_expires_at=NOW)
    outcome = await storage.codes.redeem(TENANT, code.code_hash, NOW + 1)
    assert outcome.status == "redeemed"
    assert outcome.code is not None and outcome.code.access_jti is None


async def test_same_code_hash_in_two_tenants(storage: Storage) -> None:
    """Keys are per tenant: the same hash may exist in two tenants without clashing."""
    shared = f.token_hash()
    await storage.codes.create(f.code(code_hash=shared))
    await storage.codes.create(f.code(OTHER, code_hash=shared))
    assert (await storage.codes.redeem(TENANT, shared, NOW)).status == "redeemed"
    assert (await storage.codes.redeem(OTHER, shared, NOW)).status == "redeemed"


async def test_duplicate_code_is_rejected(storage: Storage) -> None:
    code = f.code()
    await storage.codes.create(code)
    with pytest.raises(AlreadyExists):
        await storage.codes.create(code)


async def test_purge_keeps_codes_a_replay_still_matters_for(storage: Storage) -> None:
    """Codes are kept CODE_RETENTION_SECONDS past expiry, and while their access token lives (RFC 9700 §4.2.4)."""
    old = f.code(expires_at=NOW)
    old_with_live_token = f.code(expires_at=NOW, access_jti="j", access_expires_at=NOW + 2 * CODE_RETENTION_SECONDS)
    recent = f.code(expires_at=NOW + CODE_RETENTION_SECONDS)
    elsewhere = f.code(OTHER, expires_at=NOW)
    for code in (old, old_with_live_token, recent, elsewhere):
        await storage.codes.create(code)
    assert await storage.codes.purge_expired(NOW + CODE_RETENTION_SECONDS + 1) == 2  # across tenants
    assert (await storage.codes.redeem(TENANT, old.code_hash, NOW)).status == "unknown"
    assert (await storage.codes.redeem(OTHER, elsewhere.code_hash, NOW)).status == "unknown"
    assert (await storage.codes.redeem(TENANT, old_with_live_token.code_hash, NOW)).status == "expired"
    assert (await storage.codes.redeem(TENANT, recent.code_hash, NOW)).status == "redeemed"


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


async def test_first_refresh_family_records_itself_on_its_code(storage: Storage) -> None:
    """One write per code exchange: ``create_family(..., from_code=)`` records the family and the access token on the
    code as ``record_issued`` would, so a replay still finds what to revoke; another tenant's code is untouched."""
    code = f.code()
    other = f.code(OTHER, code_hash=code.code_hash)
    await storage.codes.create(code)
    await storage.codes.create(other)
    assert (await storage.codes.redeem(TENANT, code.code_hash, NOW + 1)).status == "redeemed"
    family = f.family()
    first = f.refresh_token(family, access_jti="jti-first", access_expires_at=NOW + 301)
    await storage.refresh.create_family(family, first, from_code=code.code_hash)
    replay = await storage.codes.redeem(TENANT, code.code_hash, NOW + 2)
    assert replay.status == "replayed" and replay.code is not None
    assert (replay.code.family_id, replay.code.access_jti) == (family.family_id, "jti-first")
    assert replay.code.access_expires_at == NOW + 301
    assert await storage.refresh.get_family(TENANT, family.family_id) == family
    untouched = await storage.codes.redeem(OTHER, code.code_hash, NOW + 1)
    assert untouched.code is not None and untouched.code.family_id is None
