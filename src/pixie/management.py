"""Registering tenants, clients and users: what the CLI (and later the admin API) does, as plain functions.

Validation lives here so that every entry point refuses the same bad input with the same one-line message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from pixie import scopes as scope_rules
from pixie.passwords import PasswordPolicy, hash_password
from pixie.security import hash_secret, new_id, new_token
from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import Client, Tenant, TenantSettings, User
from pixie.tenancy import DEFAULT_TENANT, change_settings, validate_tenant_name
from pixie.tokens.issuer import ID_TOKEN_ALGS
from pixie.tokens.keys import KeyRing
from pixie.types import ClientAuthMethod, ClientType, TenantId

__all__ = [
    "ClientFields",
    "DEFAULT_TENANT_DISPLAY_NAME",
    "GRANT_TYPES",
    "ID_TOKEN_ALGS",
    "InvalidRegistration",
    "NewClient",
    "NotFound",
    "Profile",
    "check_client_fields",
    "check_display_name",
    "check_logo_uri",
    "client_view",
    "create_tenant",
    "create_tenants",
    "create_user",
    "ensure_default_tenant",
    "register_client",
    "set_tenant_disabled",
    "set_tenant_display_name",
    "update_tenant_settings",
    "update_user_profile",
    "validate_redirect_uri",
]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_TENANT_DISPLAY_NAME = "Pixie"
"""What the sign-in pages of a new default tenant are headed with, until ``pixie tenants settings default
--display-name`` names it after the organisation."""
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class InvalidRegistration(ValueError):
    """Registration input that can never work (a usage error: the CLI exits with 2)."""


class NotFound(LookupError):
    """No tenant, client or user by that name (the admin API answers 404)."""


@dataclass(frozen=True)
class NewClient:
    client: Client
    secret: str | None
    """The plaintext secret, shown once when it was generated; None for public clients."""


_URI_CHARACTERS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
"""What a URI is made of: unreserved and reserved characters, and percent-encodings (RFC 3986 §2.1–§2.3). No
control character, space, non-ASCII character or stray ``%``, so the URI means one thing to every parser."""

_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def _check_host(uri: str, host: str) -> None:
    """``host`` (as written in the authority) is a DNS host name, a dotted-quad IPv4 address or a bracketed IPv6
    address: not a pattern (``*.example.com``), not a percent-encoded name, not an IPv6 zone or IPvFuture literal.

    Spec: RFC 3986 §3.2.2, RFC 1123 §2.1 (host names; "_" is tolerated, as in DNS names, RFC 2181 §11), RFC 9700
    §2.1 (exact matching: a registered URI is never a pattern).
    """
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") and "%" not in host else "")
        except ValueError:
            raise InvalidRegistration(f"redirect URI {uri!r}: {host!r} is not an IPv6 address") from None
        return
    labels = host.split(".")
    if labels[-1].isdigit() or labels[-1].lower().startswith("0x"):
        # A name that ends in a number is an IPv4 address to browsers (WHATWG URL host parsing): insist on the one
        # form everyone reads alike.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidRegistration(f"redirect URI {uri!r}: {host!r} is not an IPv4 address") from None
        return
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidRegistration(
            f"redirect URI {uri!r}: the host {host!r} is not a host name or IP address (exact URIs only, no wildcards)"
        )


def validate_redirect_uri(uri: str, *, public: bool = False) -> str:
    """An absolute URI (RFC 3986 §4.3) of URI characters only, without fragment (RFC 6749 §3.1.2) or user
    information (RFC 9110 §4.2.4); its host, if it has one, a host name or IP address; https, or http only on a
    loopback IP (RFC 8252 §7.3), or a private-use scheme with a dot for native apps (RFC 8252 §7.1).

    ``http://localhost:PORT/…`` is accepted for a ``public`` client only, and only with its port: a browser app on a
    development server (Vite, Next.js) is served from that origin, and the browser sends the user back to it. Such a
    URI is matched exactly, port included, like any other; the any-port loopback rule applies to IP literals
    registered without a port alone, so a name that DNS or ``/etc/hosts`` resolves never widens a match. Native apps
    and confidential clients still get the RFC 8252 §8.3 refusal (use ``127.0.0.1`` or ``[::1]``).

    Spec: RFC 3986 §2, §3.2, §4.3; RFC 6749 §3.1.2; RFC 8252 §7, §8.3; RFC 9110 §4.2.4; RFC 9700 §2.1, §4.1;
    OAuth 2.1 §2.3, §8.4.2.
    """
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError:
        raise InvalidRegistration(f"redirect URI {uri!r} is not a valid URI") from None
    if not parts.scheme or any(ch.isspace() for ch in uri):
        raise InvalidRegistration(f"redirect URI {uri!r} must be an absolute URI")
    if parts.fragment or "#" in uri:
        raise InvalidRegistration(f"redirect URI {uri!r} must not contain a fragment (RFC 6749 §3.1.2)")
    if not _URI_CHARACTERS.fullmatch(uri):
        raise InvalidRegistration(
            f"redirect URI {uri!r} holds a character a URI cannot (control, non-ASCII, or % without two hex digits)"
        )
    if "@" in parts.netloc:
        raise InvalidRegistration(f"redirect URI {uri!r} must not contain user information (RFC 9110 §4.2.4)")
    if parts.netloc:
        if parts.netloc.startswith("["):  # an IP literal: urlsplit has checked that its "]" is there
            host, port = parts.netloc.split("]", 1)
            host += "]"
        else:
            host, colon, port = parts.netloc.partition(":")
            port = colon + port
        if port and not (port.startswith(":") and port[1:].isdigit()):
            raise InvalidRegistration(f"redirect URI {uri!r} has an empty or invalid port")
        if not host:
            raise InvalidRegistration(f"redirect URI {uri!r} has no host")
        _check_host(uri, host)
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not parts.hostname:
            raise InvalidRegistration(f"redirect URI {uri!r} has no host")
    elif scheme == "http":
        if parts.hostname == "localhost":
            if not public:
                raise InvalidRegistration(
                    f"redirect URI {uri!r}: http://localhost is for public browser apps in development; "
                    "use https, or 127.0.0.1 or [::1] for a native app (RFC 8252 §8.3)"
                )
            if not parts.port:
                raise InvalidRegistration(
                    f"redirect URI {uri!r}: name the development server's port (http://localhost:5173/callback); "
                    "it is matched exactly"
                )
            return uri
        if parts.hostname not in _LOOPBACK:
            raise InvalidRegistration(f"redirect URI {uri!r} must use https unless its host is a loopback address")
    elif "." not in scheme:
        raise InvalidRegistration(
            f"redirect URI {uri!r}: a private-use scheme must be a reverse domain name, e.g. com.example.app:/cb"
        )
    return uri


@dataclass(frozen=True)
class ClientFields:
    """A client's checked, de-duplicated settings (see :func:`check_client_fields`)."""

    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    name: str
    logo_uri: str | None


def check_display_name(name: str, what: str = "display name") -> str:
    """A name people read: at most 100 printable characters, surrounding spaces removed (empty: none)."""
    shown = name.strip()
    if len(shown) > 100 or not shown.isprintable():
        raise InvalidRegistration(f"{what} must be at most 100 printable characters")
    return shown


def check_logo_uri(uri: str | None) -> str | None:
    """An https URL with a host (or None, or empty for none): shown as an image on the sign-in pages, so never a
    ``javascript:``, ``data:`` or plain-http address. Spec: RFC 7591 §2 (``logo_uri``)."""
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise InvalidRegistration(f"logo URI {uri!r} is not a valid URI") from None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc or len(uri) > 2000:
        raise InvalidRegistration(f"logo URI {uri[:100]!r} must be an https URL with a host")
    if not _URI_CHARACTERS.fullmatch(uri):
        raise InvalidRegistration(f"logo URI {uri[:100]!r} holds a character a URI cannot")
    return uri


def check_client_fields(
    *,
    public: bool,
    redirect_uris: Sequence[str],
    grant_types: Sequence[str],
    scopes: Sequence[str],
    refresh_grace_seconds: int,
    access_token_ttl: int | None,
    refresh_idle_ttl: int | None,
    refresh_absolute_ttl: int | None,
    name: str = "",
    logo_uri: str | None = None,
) -> ClientFields:
    """Check a client's settings as registration and every later change do, so that an update can never store what
    registration refuses. Spec: RFC 6749 §2, §4.4; RFC 7591 §2; OAuth 2.1 §2.1."""
    unknown = sorted(set(grant_types) - set(GRANT_TYPES))
    if unknown:
        raise InvalidRegistration(f"unknown grant type(s): {', '.join(unknown)}; known: {', '.join(GRANT_TYPES)}")
    grants = tuple(dict.fromkeys(grant_types))
    if public and "client_credentials" in grants:
        raise InvalidRegistration("a public client cannot use client_credentials (RFC 6749 §4.4)")
    if "authorization_code" in grants and not redirect_uris:
        raise InvalidRegistration("the authorization_code grant needs at least one --redirect-uri")
    uris = tuple(dict.fromkeys(validate_redirect_uri(u, public=public) for u in redirect_uris))
    try:
        scope_list = scope_rules.parse(" ".join(scopes))
    except ValueError as exc:
        raise InvalidRegistration(str(exc)) from None
    if not 0 <= refresh_grace_seconds <= 60:
        raise InvalidRegistration("refresh_grace_seconds must be between 0 and 60")
    for label, ttl in (
        ("access token lifetime", access_token_ttl),
        ("refresh idle timeout", refresh_idle_ttl),
        ("refresh absolute lifetime", refresh_absolute_ttl),
    ):
        if ttl is not None and ttl <= 0:
            raise InvalidRegistration(f"{label} must be a positive number of seconds")
    if refresh_idle_ttl and refresh_absolute_ttl and refresh_idle_ttl > refresh_absolute_ttl:
        raise InvalidRegistration("refresh idle timeout cannot exceed the absolute lifetime")
    return ClientFields(
        redirect_uris=uris,
        grant_types=grants,
        scopes=scope_list,
        name=check_display_name(name, "client name"),
        logo_uri=check_logo_uri(logo_uri),
    )


async def ensure_default_tenant(storage: Storage, keyring: KeyRing) -> Tenant:
    """Create the default tenant and its keys if they are missing (``pixie serve`` start-up)."""
    tenant = await storage.tenants.get(DEFAULT_TENANT)
    if tenant is None:
        tenant = Tenant(id=DEFAULT_TENANT, display_name=DEFAULT_TENANT_DISPLAY_NAME, created_at=time.time())
        try:
            await storage.tenants.create(tenant)
        except AlreadyExists:  # another instance starting on the same new database was first: use its row
            tenant = await storage.tenants.get(DEFAULT_TENANT) or tenant
    await keyring.ensure(tenant.id, tenant.settings.signing_alg)
    return tenant


def _new_tenant(name: str, display_name: str | None, settings: TenantSettings | None, now: float) -> Tenant:
    try:
        validate_tenant_name(name)
    except ValueError as exc:
        raise InvalidRegistration(str(exc)) from None
    shown = (display_name or name).strip()
    if not shown or len(shown) > 100 or not shown.isprintable():
        raise InvalidRegistration("display name must be 1-100 printable characters")
    return Tenant(id=name, display_name=shown, created_at=now, settings=settings or TenantSettings())


async def create_tenant(
    storage: Storage, keyring: KeyRing, name: str, *, display_name: str | None = None, settings: TenantSettings | None
) -> Tenant:
    """A new tenant with its own keys, written in one transaction (never a tenant without keys). Raises
    :class:`InvalidRegistration` or ``AlreadyExists``."""
    tenant = _new_tenant(name, display_name, settings, time.time())
    await storage.tenants.create_many([tenant], keyring.first_keys(tenant.id, tenant.settings.signing_alg))
    keyring.invalidate(tenant.id)
    return tenant


async def create_tenants(
    storage: Storage,
    keyring: KeyRing,
    names: Sequence[str],
    *,
    batch_size: int = 250,
    progress: Callable[[int], None] | None = None,
) -> list[Tenant]:
    """Many tenants, each with its own ``active`` and ``next`` key, ``batch_size`` to a transaction: one commit
    per batch instead of three per tenant (key generation is ~0.05 ms; the commits were the cost). Every name is
    checked, and checked against the existing tenants, before anything is written; a batch is all or nothing, so
    a concurrent creator of the same name makes that batch fail with ``AlreadyExists`` and leaves the earlier
    batches in place. ``progress(n)`` is called after each batch with the number of tenants it created.
    """
    now = time.time()
    tenants = [_new_tenant(name, None, None, now) for name in names]
    seen: set[str] = set()
    for tenant in tenants:
        if tenant.id in seen:
            raise InvalidRegistration(f"tenant {tenant.id!r} is named twice")
        seen.add(tenant.id)
    existing = {tenant.id for tenant in await storage.tenants.list()} & seen
    if existing:
        raise AlreadyExists(f"tenant {min(existing)!r} already exists")
    for start in range(0, len(tenants), max(1, batch_size)):
        batch = tenants[start : start + max(1, batch_size)]
        keys = [key for tenant in batch for key in keyring.first_keys(tenant.id, tenant.settings.signing_alg)]
        await storage.tenants.create_many(batch, keys)
        for tenant in batch:
            keyring.invalidate(tenant.id)
        if progress is not None:
            progress(len(batch))
    return tenants


async def _existing_tenant(storage: Storage, tenant_id: TenantId) -> Tenant:
    tenant = await storage.tenants.get(tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant named {tenant_id[:64]!r}")
    return tenant


async def set_tenant_disabled(storage: Storage, tenant_id: TenantId, disabled: bool) -> Tenant:
    """Disable (every endpoint of the tenant answers 404) or enable a tenant. The default tenant always stays
    enabled: it issues the administrators' tokens. Callers drop their :class:`~pixie.tenancy.TenantResolver`
    entry so the change applies at once in their process."""
    if disabled and tenant_id == DEFAULT_TENANT:
        raise InvalidRegistration("the default tenant cannot be disabled")
    tenant = await _existing_tenant(storage, tenant_id)
    await storage.tenants.set_disabled(tenant_id, disabled)
    return replace(tenant, disabled=disabled)


async def set_tenant_display_name(storage: Storage, tenant_id: TenantId, display_name: str) -> Tenant:
    """Rename a tenant as people read it (its sign-in and consent pages); its id and issuer stay."""
    tenant = await _existing_tenant(storage, tenant_id)
    shown = check_display_name(display_name)
    if not shown:
        raise InvalidRegistration("display name must be 1-100 printable characters")
    await storage.tenants.set_display_name(tenant_id, shown)
    return replace(tenant, display_name=shown)


async def update_tenant_settings(storage: Storage, tenant_id: TenantId, changes: Mapping[str, object]) -> Tenant:
    """Apply checked ``changes`` (see :func:`pixie.tenancy.change_settings`) to a tenant's settings."""
    tenant = await _existing_tenant(storage, tenant_id)
    try:
        settings = change_settings(tenant.settings, changes)
    except ValueError as exc:
        raise InvalidRegistration(str(exc)) from None
    await storage.tenants.update_settings(tenant_id, settings)
    return replace(tenant, settings=settings)


async def register_client(
    storage: Storage,
    tenant_id: TenantId,
    client_id: str,
    *,
    redirect_uris: Sequence[str],
    public: bool,
    secret: str | None = None,
    grant_types: Sequence[str] = ("authorization_code", "refresh_token"),
    scopes: Sequence[str] = (),
    audiences: Sequence[str] = (),
    auth_method: ClientAuthMethod | None = None,
    refresh_grace_seconds: int | None = None,
    access_token_ttl: int | None = None,
    refresh_idle_ttl: int | None = None,
    refresh_absolute_ttl: int | None = None,
    post_logout_redirect_uris: Sequence[str] = (),
    id_token_signed_response_alg: str | None = None,
    dpop_bound_access_tokens: bool = False,
    require_pushed_authorization_requests: bool = False,
    name: str = "",
    logo_uri: str | None = None,
) -> NewClient:
    """Register a client. Public clients get no secret; confidential ones get ``secret`` or a generated one
    (256 bits, returned once). Secrets are stored as SHA-256 hashes only. Without ``refresh_grace_seconds`` the
    client gets its tenant's ``refresh_grace_seconds`` setting (0 unless changed).

    Spec: RFC 6749 §2, RFC 7591 §2 (metadata rules), OAuth 2.1 §2.1 (client types).
    """
    if not client_id or len(client_id) > 255 or any(ch.isspace() or not ch.isprintable() for ch in client_id):
        raise InvalidRegistration("client id must be 1-255 printable characters without spaces")
    if refresh_grace_seconds is None:
        tenant = await storage.tenants.get(tenant_id)
        refresh_grace_seconds = tenant.settings.refresh_grace_seconds if tenant is not None else 0
    fields = check_client_fields(
        public=public,
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        scopes=scopes,
        refresh_grace_seconds=refresh_grace_seconds,
        access_token_ttl=access_token_ttl,
        refresh_idle_ttl=refresh_idle_ttl,
        refresh_absolute_ttl=refresh_absolute_ttl,
        name=name,
        logo_uri=logo_uri,
    )
    grants, uris, scope_list = fields.grant_types, fields.redirect_uris, fields.scopes
    logout_uris = tuple(dict.fromkeys(validate_redirect_uri(u, public=public) for u in post_logout_redirect_uris))
    if id_token_signed_response_alg is not None and id_token_signed_response_alg not in ID_TOKEN_ALGS:
        raise InvalidRegistration(f"the ID token algorithm must be one of {', '.join(ID_TOKEN_ALGS)}")
    client_type: ClientType = "public" if public else "confidential"
    plaintext: str | None = None
    if not public:
        plaintext = secret if secret is not None else new_token(32)
        if not plaintext:
            raise InvalidRegistration("a confidential client needs a non-empty secret")
    method: ClientAuthMethod = auth_method or ("none" if public else "client_secret_basic")
    if public != (method == "none"):
        raise InvalidRegistration(f"auth method {method!r} does not fit a {client_type} client")
    client = Client(
        tenant_id=tenant_id,
        client_id=client_id,
        client_type=client_type,
        token_endpoint_auth_method=method,
        redirect_uris=uris,
        grant_types=grants,
        scopes=scope_list,
        audiences=tuple(dict.fromkeys(audiences)),
        created_at=time.time(),
        secret_hash=hash_secret(plaintext) if plaintext is not None else None,
        refresh_grace_seconds=refresh_grace_seconds,
        access_token_ttl=access_token_ttl,
        refresh_idle_ttl=refresh_idle_ttl,
        refresh_absolute_ttl=refresh_absolute_ttl,
        post_logout_redirect_uris=logout_uris,
        id_token_signed_response_alg=id_token_signed_response_alg,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        name=fields.name,
        logo_uri=fields.logo_uri,
    )
    await storage.clients.create(client)
    return NewClient(client=client, secret=plaintext)


@dataclass(frozen=True)
class Profile:
    """A user's OpenID Connect standard claims as given to a command; None leaves a field as it is (on update)."""

    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    email_verified: bool | None = None

    def applied_to(self, user: User) -> User:
        """``user`` with these fields checked and set; an empty string clears a field.

        Spec: OpenID Connect Core 1.0 §5.1 (``name``, ``given_name``, ``family_name``, ``email``, ``email_verified``).
        """
        changes: dict[str, object] = {}
        for field_name in ("name", "given_name", "family_name"):
            value = getattr(self, field_name)
            if value is not None:
                value = value.strip()
                if len(value) > 255 or not value.isprintable():
                    raise InvalidRegistration(f"{field_name} must be at most 255 printable characters")
                changes[field_name] = value or None
        if self.email is not None:
            email = self.email.strip()
            if email and not _EMAIL.fullmatch(email):
                raise InvalidRegistration(f"{email[:64]!r} is not an email address")
            changes["email"] = email or None
        if self.email_verified is not None:
            changes["email_verified"] = self.email_verified
        return replace(user, **changes)  # type: ignore[arg-type]


_EMAIL = re.compile(r"[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,189}\.[^\s@\x00-\x1f\x7f.]{1,63}")
"""Plausibly an address (local part, ``@``, a domain with a dot); whether it is theirs is ``email_verified``."""


async def create_user(
    storage: Storage,
    tenant_id: TenantId,
    username: str,
    password: str,
    *,
    roles: Sequence[str] = (),
    profile: Profile | None = None,
) -> User:
    """A user with an Argon2id password hash, a random, stable ``sub`` and an optional profile."""
    username = username.strip()
    if not username or len(username) > 255 or not username.isprintable():
        raise InvalidRegistration("username must be 1-255 printable characters")
    try:
        PasswordPolicy.check(password)
    except ValueError as exc:
        raise InvalidRegistration(str(exc)) from None
    user = User(
        tenant_id=tenant_id,
        user_id=new_id(),
        username=username,
        password_hash="",
        created_at=time.time(),
        roles=tuple(dict.fromkeys(roles)),
    )
    if profile is not None:
        user = profile.applied_to(user)
    # Argon2id takes ~150 ms of CPU on purpose: off the event loop, so a server creating users keeps serving.
    user = replace(user, password_hash=await asyncio.to_thread(hash_password, password))
    await storage.users.create(user)
    return replace(user, password_hash="")


async def update_user_profile(storage: Storage, tenant_id: TenantId, username: str, profile: Profile) -> User:
    """Change a user's profile claims (found by username); fields left None stay as they are."""
    user = await storage.users.get_by_username(tenant_id, username)
    if user is None:
        raise NotFound(f"no user named {username[:64]!r} in tenant {tenant_id!r}")
    updated = profile.applied_to(user)
    await storage.users.set_profile(updated)
    return replace(updated, password_hash="")


def client_view(client: Client) -> dict[str, Any]:
    """A client as the CLI's ``--json`` and the admin API show it: every field but the secret's hash."""
    return {
        "tenant": client.tenant_id,
        "client_id": client.client_id,
        "name": client.name,
        "logo_uri": client.logo_uri,
        "client_type": client.client_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "scope": " ".join(client.scopes),
        "audiences": list(client.audiences),
        "refresh_grace_seconds": client.refresh_grace_seconds,
        "access_token_ttl": client.access_token_ttl,
        "refresh_idle_ttl": client.refresh_idle_ttl,
        "refresh_absolute_ttl": client.refresh_absolute_ttl,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "disabled": client.disabled,
        "created_at": client.created_at,
    }
