"""AdminSessionStore contract, on SQLite and PostgreSQL: sessions found with their user, revoked once, purged."""

from __future__ import annotations

import dataclasses

import pytest

from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import AdminSession

from . import factories as f
from .factories import NOW, OTHER, TENANT


def _session(tenant_id: str = TENANT, session_hash: str = "a" * 64, **changes: object) -> AdminSession:
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "session_hash": session_hash,
        "user_id": "u1",
        "created_at": NOW,
        "expires_at": NOW + 3600,
    }
    return AdminSession(**(values | changes))  # type: ignore[arg-type]


async def test_a_session_comes_back_with_its_user(storage: Storage) -> None:
    user = f.user(roles=("admin",))
    await storage.users.create(user)
    await storage.admin_sessions.create(_session())
    assert await storage.admin_sessions.get(TENANT, "a" * 64) == (_session(), user)
    assert await storage.admin_sessions.get(OTHER, "a" * 64) is None
    assert await storage.admin_sessions.get(TENANT, "b" * 64) is None


async def test_a_session_whose_user_is_gone_says_so(storage: Storage) -> None:
    """The caller refuses it: no user (deleted), like a disabled one or one without the admin role."""
    await storage.admin_sessions.create(_session(user_id="gone"))
    assert await storage.admin_sessions.get(TENANT, "a" * 64) == (_session(user_id="gone"), None)


async def test_duplicate_session_is_rejected(storage: Storage) -> None:
    await storage.admin_sessions.create(_session())
    with pytest.raises(AlreadyExists):
        await storage.admin_sessions.create(_session(user_id="u2"))


async def test_revoke_once_keeps_the_first_time(storage: Storage) -> None:
    await storage.admin_sessions.create(_session())
    assert await storage.admin_sessions.revoke(TENANT, "a" * 64, NOW + 5)
    assert not await storage.admin_sessions.revoke(TENANT, "a" * 64, NOW + 9)
    assert not await storage.admin_sessions.revoke(TENANT, "b" * 64, NOW + 9)
    found = await storage.admin_sessions.get(TENANT, "a" * 64)
    assert found is not None
    session, _ = found
    assert session == dataclasses.replace(_session(), revoked_at=NOW + 5)
    assert not session.live(NOW + 6) and _session().live(NOW + 6) and not _session().live(NOW + 3600)


async def test_purge_drops_expired_and_revoked_sessions_of_every_tenant(storage: Storage) -> None:
    await storage.admin_sessions.create(_session(session_hash="live"))
    await storage.admin_sessions.create(_session(session_hash="old", expires_at=NOW - 1))
    await storage.admin_sessions.create(_session(OTHER, session_hash="old", expires_at=NOW - 1))
    await storage.admin_sessions.create(_session(session_hash="out", revoked_at=NOW - 5))
    assert await storage.admin_sessions.purge_expired(NOW) == 3
    assert await storage.admin_sessions.get(TENANT, "live") is not None
    assert await storage.admin_sessions.get(TENANT, "old") is None
