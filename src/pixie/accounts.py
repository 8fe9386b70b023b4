"""Clients and users after registration: find, change, rotate a secret, set a password, disable, enable, delete.

What each change ends (ARCHITECTURE §6, RFC 9700 §4.14.2 on revoking refresh tokens):

- disabling a client or a user, or deleting one, revokes its refresh-token families and deny-lists the access tokens
  recorded on them, drops its unredeemed codes and pending sign-ins, and for a user revokes every SSO and dashboard
  session (:meth:`~pixie.storage.interfaces.UserStore.end_access`). Enabling again revives none of it: the account
  starts from a fresh sign-in. Deleting also drops consents, so an account registered later under the same name
  starts with nothing.
- setting a user's password ends the user's access the same way (a reset is usually a response to a compromise).
- taking a scope away from a client ends the client's access: a refresh token keeps the scopes it was issued with,
  so the change would otherwise not reach the tokens already out.
- rotating a client's secret ends nothing: the old secret stops working (a running server sees it within its client
  cache's 5 s), and the client's refresh tokens need the new one.

Access tokens verified locally by a resource server stay valid until they expire (minutes); introspection refuses
them at once. ``client_credentials`` tokens are not recorded anywhere, so they too run out on their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from pixie.management import InvalidRegistration, NewClient, NotFound, check_client_fields
from pixie.passwords import PasswordPolicy, hash_password
from pixie.security import hash_secret, new_token
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, EndedAccess, User
from pixie.tenancy import DEFAULT_TENANT
from pixie.types import TenantId

__all__ = [
    "DASHBOARD_CLIENT_ID",
    "Changed",
    "ClientChanges",
    "delete_client",
    "delete_user",
    "find_client",
    "find_user",
    "rotate_client_secret",
    "set_client_disabled",
    "set_user_disabled",
    "set_user_password",
    "update_client",
]

DASHBOARD_CLIENT_ID = "pixie-admin"
"""The dashboard's own client in the default tenant (``pixie.server.admin_session``): the server manages it, so
these functions refuse to change it."""

R = TypeVar("R")


@dataclass(frozen=True)
class Changed(Generic[R]):
    """A record after a change, and what the change ended (None: it ended nothing)."""

    record: R
    ended: EndedAccess | None = None


@dataclass(frozen=True)
class ClientChanges:
    """The settings to change; None leaves one as it is. ``logo_uri=""`` removes the logo."""

    name: str | None = None
    logo_uri: str | None = None
    redirect_uris: Sequence[str] | None = None
    grant_types: Sequence[str] | None = None
    scopes: Sequence[str] | None = None
    audiences: Sequence[str] | None = None
    refresh_grace_seconds: int | None = None
    access_token_ttl: int | None = None
    refresh_idle_ttl: int | None = None
    refresh_absolute_ttl: int | None = None


async def find_client(storage: Storage, tenant_id: TenantId, client_id: str) -> Client:
    client = await storage.clients.get(tenant_id, client_id)
    if client is None:
        raise NotFound(f"no client {client_id[:64]!r} in tenant {tenant_id!r}")
    return client


async def find_user(storage: Storage, tenant_id: TenantId, username: str) -> User:
    """The user named ``username`` (the password hash left out: no caller shows or needs it)."""
    user = await storage.users.get_by_username(tenant_id, username)
    if user is None:
        raise NotFound(f"no user named {username[:64]!r} in tenant {tenant_id!r}")
    return replace(user, password_hash="")


async def _changeable_client(storage: Storage, tenant_id: TenantId, client_id: str) -> Client:
    if (tenant_id, client_id) == (DEFAULT_TENANT, DASHBOARD_CLIENT_ID):
        raise InvalidRegistration(f"{DASHBOARD_CLIENT_ID} is the dashboard's own client; the server manages it")
    return await find_client(storage, tenant_id, client_id)


async def update_client(
    storage: Storage, tenant_id: TenantId, client_id: str, changes: ClientChanges
) -> Changed[Client]:
    """Apply ``changes``, checked as registration checks them. A scope taken away ends the client's access (see
    the module docstring). Spec: RFC 7592 §2.2 (a client's metadata replaced as a whole), RFC 6749 §3.3."""
    client = await _changeable_client(storage, tenant_id, client_id)
    fields = check_client_fields(
        public=client.client_type == "public",
        redirect_uris=_pick(changes.redirect_uris, client.redirect_uris),
        grant_types=_pick(changes.grant_types, client.grant_types),
        scopes=_pick(changes.scopes, client.scopes),
        refresh_grace_seconds=_pick(changes.refresh_grace_seconds, client.refresh_grace_seconds),
        access_token_ttl=_pick(changes.access_token_ttl, client.access_token_ttl),
        refresh_idle_ttl=_pick(changes.refresh_idle_ttl, client.refresh_idle_ttl),
        refresh_absolute_ttl=_pick(changes.refresh_absolute_ttl, client.refresh_absolute_ttl),
        name=_pick(changes.name, client.name),
        logo_uri=_pick(changes.logo_uri, client.logo_uri),
    )
    updated = replace(
        client,
        redirect_uris=fields.redirect_uris,
        grant_types=fields.grant_types,
        scopes=fields.scopes,
        audiences=tuple(dict.fromkeys(_pick(changes.audiences, client.audiences))),
        refresh_grace_seconds=_pick(changes.refresh_grace_seconds, client.refresh_grace_seconds),
        access_token_ttl=_pick(changes.access_token_ttl, client.access_token_ttl),
        refresh_idle_ttl=_pick(changes.refresh_idle_ttl, client.refresh_idle_ttl),
        refresh_absolute_ttl=_pick(changes.refresh_absolute_ttl, client.refresh_absolute_ttl),
        name=fields.name,
        logo_uri=fields.logo_uri,
    )
    if not await storage.clients.update(updated):
        raise NotFound(f"no client {client_id[:64]!r} in tenant {tenant_id!r}")
    ended = None
    if set(client.scopes) - set(updated.scopes):
        ended = await storage.clients.end_access(tenant_id, client_id, "scope_removed", time.time())
    return Changed(updated, ended)


def _pick(value: R | None, current: R) -> R:
    return current if value is None else value


async def rotate_client_secret(
    storage: Storage, tenant_id: TenantId, client_id: str, secret: str | None = None
) -> NewClient:
    """Give a confidential client a new secret (``secret``, or 256 random bits), stored as its SHA-256 only and
    returned once; the old one stops working. Spec: RFC 7591 §3.2.1 (``client_secret``), RFC 6749 §2.3.1."""
    client = await _changeable_client(storage, tenant_id, client_id)
    if client.client_type != "confidential":
        raise InvalidRegistration(f"client {client_id!r} is public: it has no secret to rotate")
    plaintext = secret if secret is not None else new_token(32)
    if not plaintext:
        raise InvalidRegistration("a confidential client needs a non-empty secret")
    updated = replace(client, secret_hash=hash_secret(plaintext))
    if not await storage.clients.update(updated):
        raise NotFound(f"no client {client_id[:64]!r} in tenant {tenant_id!r}")
    return NewClient(client=updated, secret=plaintext)


async def set_client_disabled(storage: Storage, tenant_id: TenantId, client_id: str, disabled: bool) -> Changed[Client]:
    """Disable a client (its authentication fails, its tokens are refused by introspection, and its access ends) or
    enable it again (nothing that was ended comes back)."""
    client = await _changeable_client(storage, tenant_id, client_id)
    await storage.clients.set_disabled(tenant_id, client_id, disabled)
    ended = await storage.clients.end_access(tenant_id, client_id, "client_disabled", time.time()) if disabled else None
    return Changed(replace(client, disabled=disabled), ended)


async def delete_client(storage: Storage, tenant_id: TenantId, client_id: str) -> EndedAccess:
    """Delete a client with its consents, ending its access."""
    await _changeable_client(storage, tenant_id, client_id)
    ended = await storage.clients.delete(tenant_id, client_id, time.time())
    if ended is None:
        raise NotFound(f"no client {client_id[:64]!r} in tenant {tenant_id!r}")
    return ended


async def set_user_disabled(storage: Storage, tenant_id: TenantId, username: str, disabled: bool) -> Changed[User]:
    """Disable a user (no more sign-ins; their access ends) or enable them again (they sign in afresh)."""
    user = await find_user(storage, tenant_id, username)
    await storage.users.set_disabled(tenant_id, user.user_id, disabled)
    ended = await storage.users.end_access(tenant_id, user.user_id, "user_disabled", time.time()) if disabled else None
    return Changed(replace(user, disabled=disabled), ended)


async def delete_user(storage: Storage, tenant_id: TenantId, username: str) -> Changed[User]:
    """Delete a user with their consents, ending their access."""
    user = await find_user(storage, tenant_id, username)
    ended = await storage.users.delete(tenant_id, user.user_id, time.time())
    if ended is None:
        raise NotFound(f"no user named {username[:64]!r} in tenant {tenant_id!r}")
    return Changed(user, ended)


async def set_user_password(storage: Storage, tenant_id: TenantId, username: str, password: str) -> Changed[User]:
    """Store a new Argon2id hash of ``password`` (checked against :class:`PasswordPolicy`) and end the user's access:
    every browser and app signs in again with the new password. Spec: NIST SP 800-63B §5.1.1."""
    try:
        PasswordPolicy.check(password)
    except ValueError as exc:
        raise InvalidRegistration(str(exc)) from None
    user = await find_user(storage, tenant_id, username)
    # Argon2id is CPU-heavy on purpose: off the event loop.
    password_hash = await asyncio.to_thread(hash_password, password)
    if not await storage.users.set_password_hash(tenant_id, user.user_id, password_hash):
        raise NotFound(f"no user named {username[:64]!r} in tenant {tenant_id!r}")
    ended = await storage.users.end_access(tenant_id, user.user_id, "password_changed", time.time())
    return Changed(user, ended)
