"""SessionStore and ConsentStore contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import Consent

from . import factories as f
from .factories import NOW, OTHER, TENANT

# --- SSO sessions ------------------------------------------------------------------------------------------------


async def test_session_round_trip(storage: Storage) -> None:
    session = f.session()
    await storage.sessions.create(session)
    assert await storage.sessions.get(TENANT, session.session_hash) == session
    assert await storage.sessions.get(OTHER, session.session_hash) is None
    assert await storage.sessions.get(TENANT, f.token_hash()) is None


async def test_signed_in_reads_session_user_and_consent_in_one_call(storage: Storage) -> None:
    """What authorize reads for SSO: the session whatever its state, its user (disabled or gone too) and, given a
    client, the user's consent to that client only."""
    user = f.user(roles=("owner",), disabled=True)
    await storage.users.create(user)
    await storage.users.create(f.user(tenant_id=OTHER, user_id="u2", username="bob"))
    consent = await storage.consents.grant(TENANT, "u1", "spa", ["b", "a"], NOW)
    await storage.consents.grant(TENANT, "u2", "cli", ["a"], NOW)  # another user's
    await storage.consents.grant(OTHER, "u1", "cli", ["a"], NOW)  # another tenant's
    session = f.session(revoked_at=NOW + 5)
    orphan = f.session(user_id="gone")
    foreign = f.session(tenant_id=OTHER, user_id="u1")  # a user of that id exists only in TENANT
    for each in (session, orphan, foreign):
        await storage.sessions.create(each)
    found = await storage.sessions.get_signed_in(TENANT, session.session_hash, "spa")
    assert found == (session, user, consent)
    assert consent == Consent(TENANT, "u1", "spa", ("a", "b"), NOW)
    assert await storage.sessions.get_signed_in(TENANT, session.session_hash) == (session, user, None)
    assert await storage.sessions.get_signed_in(TENANT, session.session_hash, "cli") == (session, user, None)
    assert await storage.sessions.get_signed_in(TENANT, orphan.session_hash, "spa") == (orphan, None, None)
    assert await storage.sessions.get_signed_in(OTHER, foreign.session_hash, "spa") == (foreign, None, None)
    assert await storage.sessions.get_signed_in(OTHER, session.session_hash, "spa") is None
    assert await storage.sessions.get_signed_in(TENANT, f.token_hash(), "spa") is None


async def test_duplicate_session_is_rejected(storage: Storage) -> None:
    session = f.session()
    await storage.sessions.create(session)
    with pytest.raises(AlreadyExists):
        await storage.sessions.create(session)


async def test_touch_moves_last_seen_forward_only(storage: Storage) -> None:
    """Idle expiry is last_seen_at + idle_ttl: touching extends it, a late stale touch never shortens it."""
    session = f.session()
    await storage.sessions.create(session)
    await storage.sessions.touch(TENANT, session.session_hash, NOW + 100)
    await storage.sessions.touch(TENANT, session.session_hash, NOW + 50)
    await storage.sessions.touch(OTHER, session.session_hash, NOW + 500)
    stored = await storage.sessions.get(TENANT, session.session_hash)
    assert stored == dataclasses.replace(session, last_seen_at=NOW + 100)
    assert stored.live(NOW + 100 + session.idle_ttl - 1)


async def test_revoked_session_is_still_returned(storage: Storage) -> None:
    """SessionStore.get returns the record whatever its state; ``live`` tells the caller (logout)."""
    session = f.session()
    await storage.sessions.create(session)
    await storage.sessions.revoke(OTHER, session.session_hash, NOW + 1)
    assert (await storage.sessions.get(TENANT, session.session_hash)) == session
    await storage.sessions.revoke(TENANT, session.session_hash, NOW + 5)
    await storage.sessions.revoke(TENANT, session.session_hash, NOW + 9)
    stored = await storage.sessions.get(TENANT, session.session_hash)
    assert stored is not None and stored.revoked_at == NOW + 5 and not stored.live(NOW + 6)


# --- consents ----------------------------------------------------------------------------------------------------


async def test_grant_adds_to_what_was_granted(storage: Storage) -> None:
    """Consent is remembered as the sorted union of every grant; granted_at is the latest grant."""
    first = await storage.consents.grant(TENANT, "u1", "spa", ["profile", "openid"], NOW)
    assert first.scopes == ("openid", "profile")
    second = await storage.consents.grant(TENANT, "u1", "spa", ("properties:read", "openid"), NOW + 10)
    assert second.scopes == ("openid", "profile", "properties:read")
    assert second.granted_at == NOW + 10
    assert await storage.consents.get(TENANT, "u1", "spa") == second


async def test_consent_is_per_tenant_user_and_client(storage: Storage) -> None:
    await storage.consents.grant(TENANT, "u1", "spa", ["openid"], NOW)
    assert await storage.consents.get(OTHER, "u1", "spa") is None
    assert await storage.consents.get(TENANT, "u2", "spa") is None
    assert await storage.consents.get(TENANT, "u1", "cli") is None
    await storage.consents.revoke(OTHER, "u1", "spa")
    assert await storage.consents.get(TENANT, "u1", "spa") is not None


async def test_revoke_consent(storage: Storage) -> None:
    await storage.consents.grant(TENANT, "u1", "spa", ["openid"], NOW)
    await storage.consents.revoke(TENANT, "u1", "spa")
    assert await storage.consents.get(TENANT, "u1", "spa") is None
    await storage.consents.revoke(TENANT, "u1", "spa")  # idempotent
    regranted = await storage.consents.grant(TENANT, "u1", "spa", ["email"], NOW + 1)
    assert regranted.scopes == ("email",)


async def test_concurrent_first_grants_merge(storage: Storage) -> None:
    """Two tabs consenting at once: no grant is lost and none fails on the primary key."""
    scopes = [f"scope:{i:02d}" for i in range(10)]
    await asyncio.gather(*(storage.consents.grant(TENANT, "u1", "spa", [s], NOW) for s in scopes))
    stored = await storage.consents.get(TENANT, "u1", "spa")
    assert stored is not None and stored.scopes == tuple(scopes)


async def test_purge_expired_sessions(storage: Storage) -> None:
    """Housekeeping (issue 4 item 6): absolute-expired, idle-expired and revoked sessions go; live ones stay."""
    live = f.session()
    absolute = f.session(absolute_expires_at=NOW - 1)
    idle = f.session(last_seen_at=NOW - 7200, idle_ttl=3600)
    revoked = f.session()
    for s in (live, absolute, idle, revoked):
        await storage.sessions.create(s)
    await storage.sessions.revoke(TENANT, revoked.session_hash, NOW)
    assert await storage.sessions.purge_expired(NOW) == 3
    assert await storage.sessions.get(TENANT, live.session_hash) == live
    for gone in (absolute, idle, revoked):
        assert await storage.sessions.get(TENANT, gone.session_hash) is None
