"""Seeding Pixie for the demo: the default tenant's name and role-gated scopes, the SPA client, the Property API as
a protected resource and the users.

Idempotent: a second run leaves what exists alone and reports what it could not make right (a record registered by
an older demo cannot be changed through the stores), so ``pixie demo`` can say so instead of failing later.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from pixie.demo.config import (
    API_AUDIENCE,
    CLIENT_ID,
    CLIENT_NAME,
    SCOPE_ROLES,
    SCOPES,
    TENANT_NAME,
    USERS,
    api_resource,
    redirect_uri,
)
from pixie.management import DEFAULT_TENANT_DISPLAY_NAME, Profile, create_user, register_client
from pixie.protected_resources import create_resource
from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.tenancy import DEFAULT_TENANT

__all__ = ["seed_pixie"]


async def seed_pixie(storage: Storage, issuer: str) -> list[str]:
    """Make the default tenant ready for the demo; return warnings (empty when all is as the demo needs)."""
    warnings: list[str] = []
    tenant = await storage.tenants.get(DEFAULT_TENANT)
    if tenant is None:
        raise RuntimeError("the default tenant is missing; open the backend first")
    if tenant.settings.scope_roles != SCOPE_ROLES:
        await storage.tenants.update_settings(tenant.id, replace(tenant.settings, scope_roles=SCOPE_ROLES))
    if tenant.display_name in (DEFAULT_TENANT_DISPLAY_NAME, "Default"):  # never over a name the operator chose
        await storage.tenants.set_display_name(tenant.id, TENANT_NAME)

    with contextlib.suppress(AlreadyExists):
        await register_client(
            storage,
            tenant.id,
            CLIENT_ID,
            redirect_uris=[redirect_uri(issuer)],
            public=True,
            scopes=SCOPES,
            audiences=[API_AUDIENCE],
            name=CLIENT_NAME,
        )
    client = await storage.clients.get(tenant.id, CLIENT_ID)
    if client is not None and not client.name:  # registered by a demo from before clients had names
        await storage.clients.update(replace(client, name=CLIENT_NAME))
    if client is None or client.disabled or API_AUDIENCE not in client.audiences or set(SCOPES) - set(client.scopes):
        warnings.append(
            f"client {CLIENT_ID} in this database was registered differently (older demo?); "
            "start with a fresh database to reseed it"
        )

    # The API as an RFC 8707 resource: clients that discover it (RFC 9728) ask for tokens for its URL.
    with contextlib.suppress(AlreadyExists):
        await create_resource(storage, tenant.id, api_resource(issuer), name="Property API", scopes=SCOPES)

    for user in USERS:
        profile = Profile(user.name, user.given_name, user.family_name, user.email, email_verified=True)
        with contextlib.suppress(AlreadyExists):
            await create_user(storage, tenant.id, user.username, user.password, roles=user.roles, profile=profile)
        stored = await storage.users.get_by_username(tenant.id, user.username)
        if stored is not None and stored.email is None and stored.name is None:
            await storage.users.set_profile(profile.applied_to(stored))  # seeded by a demo without profiles
        if stored is None or stored.disabled or set(stored.roles) != set(user.roles):
            warnings.append(f"user {user.username} in this database differs from the demo's; its access may differ")
    return warnings
