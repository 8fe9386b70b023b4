"""Ending an account's access (ClientStore / UserStore ``end_access`` and ``delete``), on SQLite and PostgreSQL.

Disabling or deleting a client or a user revokes its refresh-token families, deny-lists the live access tokens
recorded on them and on its codes, drops its pending requests, and for a user revokes the SSO
and dashboard sessions; deleting also drops consents. Another account's, and another tenant's, records are untouched.
"""

from __future__ import annotations

from pixie.storage.interfaces import Storage
from pixie.storage.records import AdminSession, EndedAccess, Tenant

from . import factories as f
from .factories import NOW, OTHER, TENANT


async def _world(storage: Storage, tenant: str, user_id: str, client_id: str) -> dict[str, object]:
    """A family with a live and an expired access token, a code (redeemed, with its live access token) that started
    another family, a pending request, an SSO session, a dashboard session and a consent (and the user, if new)."""
    family = f.family(tenant, client_id=client_id, user_id=user_id)
    first = f.refresh_token(family, access_jti=f"{tenant}-{user_id}-{client_id}-old", access_expires_at=NOW - 1)
    await storage.refresh.create_family(family, first)
    started = f.family(tenant, client_id=client_id, user_id=user_id)
    second = f.refresh_token(started, access_jti=f"{tenant}-{user_id}-{client_id}-live", access_expires_at=NOW + 300)
    redeemed = f.code(
        tenant,
        client_id=client_id,
        user_id=user_id,
        consumed_at=NOW,
        family_id=started.family_id,
        access_jti=second.access_jti,
        access_expires_at=second.access_expires_at,
    )
    if await storage.users.get(tenant, user_id) is None:  # a code is redeemed only for a user who may sign in
        await storage.users.create(f.user(tenant, user_id=user_id, username=f"user-{user_id}"))
    assert (await storage.codes.redeem(redeemed, started, second)).status == "redeemed"
    request = f.request(tenant, client_id=client_id, user_id=user_id)
    await storage.requests.create(request)
    session = f.session(tenant, user_id=user_id)
    await storage.sessions.create(session)
    admin = AdminSession(
        tenant_id=tenant, session_hash=f.token_hash(), user_id=user_id, created_at=NOW, expires_at=NOW + 3600
    )
    await storage.admin_sessions.create(admin)
    await storage.consents.grant(tenant, user_id, client_id, ["openid"], NOW)
    return {
        "families": (family, started),
        "first": first,
        "second": second,
        "request": request,
        "session": session,
        "admin": admin,
    }


async def _ended(storage: Storage, tenant: str, world: dict[str, object], *, sessions: bool) -> None:
    for family in world["families"]:  # type: ignore[attr-defined]
        stored = await storage.refresh.get_family(tenant, family.family_id)
        assert stored is not None and stored.revoked_at == NOW + 5
    second = world["second"]
    assert await storage.denylist.is_denied(tenant, second.access_jti)  # type: ignore[attr-defined]
    assert not await storage.denylist.is_denied(tenant, world["first"].access_jti)  # type: ignore[attr-defined]
    assert await storage.requests.get(tenant, world["request"].request_id, NOW) is None  # type: ignore[attr-defined]
    session = await storage.sessions.get(tenant, world["session"].session_hash)  # type: ignore[attr-defined]
    admin = await storage.admin_sessions.get(tenant, world["admin"].session_hash)  # type: ignore[attr-defined]
    assert session is not None and admin is not None
    if sessions:
        assert session.revoked_at == NOW + 5 and admin[0].revoked_at == NOW + 5
    else:
        assert session.revoked_at is None and admin[0].revoked_at is None


async def _untouched(storage: Storage, tenant: str, world: dict[str, object]) -> None:
    for family in world["families"]:  # type: ignore[attr-defined]
        stored = await storage.refresh.get_family(tenant, family.family_id)
        assert stored is not None and stored.revoked_at is None
    assert not await storage.denylist.is_denied(tenant, world["second"].access_jti)  # type: ignore[attr-defined]
    assert await storage.requests.get(tenant, world["request"].request_id, NOW) is not None  # type: ignore[attr-defined]
    session = await storage.sessions.get(tenant, world["session"].session_hash)  # type: ignore[attr-defined]
    assert session is not None and session.revoked_at is None


async def test_ending_a_users_access(storage: Storage) -> None:
    await storage.users.create(f.user(user_id="u1"))
    mine = await _world(storage, TENANT, "u1", "spa")
    others = await _world(storage, TENANT, "u2", "spa")
    elsewhere = await _world(storage, OTHER, "u1", "spa")
    ended = await storage.users.end_access(TENANT, "u1", "user_disabled", NOW + 5)
    assert ended == EndedAccess(refresh_families=2, access_tokens=1, sso_sessions=1, admin_sessions=1)
    await _ended(storage, TENANT, mine, sessions=True)
    family = await storage.refresh.get_family(TENANT, mine["families"][0].family_id)  # type: ignore[index]
    assert family is not None and family.revoked_reason == "user_disabled"
    await _untouched(storage, TENANT, others)
    await _untouched(storage, OTHER, elsewhere)
    assert await storage.users.get(TENANT, "u1") is not None  # ending access is not deleting
    assert await storage.consents.get(TENANT, "u1", "spa") is not None
    again = await storage.users.end_access(TENANT, "u1", "user_disabled", NOW + 6)
    assert again == EndedAccess()  # nothing live is left


async def test_ending_a_clients_access_leaves_sessions(storage: Storage) -> None:
    await storage.clients.create(f.client(client_id="spa"))
    mine = await _world(storage, TENANT, "u1", "spa")
    others = await _world(storage, TENANT, "u1", "other-app")
    ended = await storage.clients.end_access(TENANT, "spa", "client_disabled", NOW + 5)
    assert ended == EndedAccess(refresh_families=2, access_tokens=1)
    await _ended(storage, TENANT, mine, sessions=False)  # the user's browser sessions are not the client's
    family = await storage.refresh.get_family(TENANT, others["families"][0].family_id)  # type: ignore[index]
    assert family is not None and family.revoked_at is None
    assert not await storage.denylist.is_denied(TENANT, others["second"].access_jti)  # type: ignore[attr-defined]


async def test_deleting_a_user(storage: Storage) -> None:
    await storage.users.create(f.user(user_id="u1", username="alice"))
    await storage.users.create(f.user(user_id="u2", username="bob"))
    mine = await _world(storage, TENANT, "u1", "spa")
    others = await _world(storage, TENANT, "u2", "spa")
    ended = await storage.users.delete(TENANT, "u1", NOW + 5)
    assert ended == EndedAccess(refresh_families=2, access_tokens=1, sso_sessions=1, admin_sessions=1)
    assert await storage.users.get(TENANT, "u1") is None
    assert await storage.users.get_by_username(TENANT, "alice") is None
    assert await storage.consents.get(TENANT, "u1", "spa") is None
    await _ended(storage, TENANT, mine, sessions=True)
    family = await storage.refresh.get_family(TENANT, mine["families"][0].family_id)  # type: ignore[index]
    assert family is not None and family.revoked_reason == "user_deleted"
    await _untouched(storage, TENANT, others)
    assert await storage.consents.get(TENANT, "u2", "spa") is not None
    assert await storage.users.delete(TENANT, "u1", NOW + 6) is None
    assert await storage.users.delete(OTHER, "u2", NOW + 6) is None  # another tenant's name is not this one
    assert await storage.users.get(TENANT, "u2") is not None


async def test_deleting_a_client(storage: Storage) -> None:
    await storage.clients.create(f.client(client_id="spa"))
    await storage.clients.create(f.client(OTHER, client_id="spa"))
    mine = await _world(storage, TENANT, "u1", "spa")
    elsewhere = await _world(storage, OTHER, "u1", "spa")
    ended = await storage.clients.delete(TENANT, "spa", NOW + 5)
    assert ended == EndedAccess(refresh_families=2, access_tokens=1)
    assert await storage.clients.get(TENANT, "spa") is None
    assert await storage.consents.get(TENANT, "u1", "spa") is None
    await _ended(storage, TENANT, mine, sessions=False)
    await _untouched(storage, OTHER, elsewhere)
    assert await storage.clients.get(OTHER, "spa") is not None
    assert await storage.consents.get(OTHER, "u1", "spa") is not None
    assert await storage.clients.delete(TENANT, "spa", NOW + 6) is None


async def test_tenant_display_name(storage: Storage) -> None:
    await storage.tenants.create(Tenant(id=TENANT, display_name="Acme", created_at=NOW))
    assert await storage.tenants.set_display_name(TENANT, "Acme Corporation")
    stored = await storage.tenants.get(TENANT)
    assert stored == Tenant(id=TENANT, display_name="Acme Corporation", created_at=NOW)
    assert not await storage.tenants.set_display_name(OTHER, "Globex")
