"""Dynamic client registration (RFC 7591) and its management (RFC 7592 read and delete), as plain functions.

A tenant's ``registration`` setting decides who may register:

- ``off`` (the default): nobody; ``/register`` answers 404 as if it did not exist, and discovery does not name it.
- ``token``: whoever presents an initial access token (RFC 7591 §3) made by ``pixie registration-tokens create``;
  such a client may be public or confidential (``client_secret_basic``).
- ``open``: anyone, for public clients only (a secret handed to an anonymous party authenticates nobody). The
  endpoint counts registrations per address, and housekeeping removes self-registered clients that have not
  received a token for the tenant's ``registration_idle_days``, so an open endpoint cannot fill the database.

Metadata is checked by :func:`pixie.management.check_client_fields` and
:func:`pixie.management.register_client`, exactly as for clients an administrator registers, and a refusal is
rendered as RFC 7591's ``invalid_redirect_uri`` or ``invalid_client_metadata``. Every secret handed out here (the
initial access token, the client secret, the registration access token) is stored as a SHA-256 hash only.

Spec: RFC 7591 §2, §3; RFC 7592 §2.1, §2.3, §3.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pixie import scopes as scope_rules
from pixie.errors import InvalidClientMetadata, InvalidRedirectUri, InvalidToken, safe_text
from pixie.management import (
    InvalidRegistration,
    NotFound,
    check_client_fields,
    check_display_name,
    check_logo_uri,
    register_client,
    validate_redirect_uri,
)
from pixie.security import constant_time_equals, hash_secret, new_id, new_token
from pixie.storage.interfaces import Storage
from pixie.storage.records import Client, RegistrationToken, Tenant
from pixie.tenancy import REGISTRATION_POLICIES
from pixie.types import ClientAuthMethod, TenantId, Timestamp

__all__ = [
    "POLICIES",
    "REGISTRABLE_GRANTS",
    "ClientMetadata",
    "IssuedToken",
    "Registered",
    "bearer_token",
    "check_client_metadata",
    "check_initial_access_token",
    "check_registration_access_token",
    "client_information",
    "create_registration_token",
    "register",
    "registration_views",
    "resource_scopes",
    "revoke_registration_token",
]

POLICIES = REGISTRATION_POLICIES
REGISTRABLE_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
_AUTH_METHODS: tuple[ClientAuthMethod, ...] = ("none", "client_secret_basic")
_MAX_REDIRECT_URIS = 10
_MAX_URI_LENGTH = 2000


@dataclass(frozen=True)
class ClientMetadata:
    """Registration metadata as checked, in the form :func:`pixie.management.register_client` takes."""

    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    auth_method: ClientAuthMethod
    name: str
    logo_uri: str | None
    dpop_bound_access_tokens: bool


def _strings(metadata: Mapping[str, Any], name: str) -> list[str] | None:
    value = metadata.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return value


def _string(metadata: Mapping[str, Any], name: str) -> str | None:
    value = metadata.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    return value


def check_client_metadata(
    metadata: object, *, tenant: Tenant, public_only: bool, resource_scopes: Collection[str] = ()
) -> ClientMetadata:
    """Check a registration request's metadata against RFC 7591 §2 and the tenant's policy.

    Fields Pixie does not know are ignored (RFC 7591 §2: the server MUST ignore them); ``client_id`` and
    ``client_secret`` in a request are never taken. Defaults: ``grant_types`` ``["authorization_code"]``,
    ``token_endpoint_auth_method`` ``none`` when only public clients may register, else ``client_secret_basic``
    (RFC 7591 §2). Scopes are limited to the OpenID Connect ones, the tenant's ``registration_scopes`` and
    ``resource_scopes``, the scopes its protected resources accept (RFC 8707): a client that registers to call a
    registered API may ask for what that API takes.

    Spec: RFC 7591 §2, §2.1 (grant and response types agree), §3.2.2 (errors).
    """
    if not isinstance(metadata, Mapping):
        raise InvalidClientMetadata("the request body must be a JSON object")
    method = _string(metadata, "token_endpoint_auth_method") or ("none" if public_only else "client_secret_basic")
    if method not in _AUTH_METHODS:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method {safe_text(method, 60)} is not supported: use none or client_secret_basic"
        )
    if public_only and method != "none":
        raise InvalidClientMetadata("open registration issues public clients only: token_endpoint_auth_method none")
    redirect_uris = _strings(metadata, "redirect_uris") or []
    if len(redirect_uris) > _MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"at most {_MAX_REDIRECT_URIS} redirect URIs")
    for uri in redirect_uris:
        if len(uri) > _MAX_URI_LENGTH:
            raise InvalidRedirectUri("a redirect URI is too long")
        try:
            validate_redirect_uri(uri, public=method == "none")
        except InvalidRegistration as exc:
            raise InvalidRedirectUri(safe_text(exc, 300)) from None
    grant_types = _strings(metadata, "grant_types")
    grants = tuple(dict.fromkeys(grant_types if grant_types is not None else ["authorization_code"]))
    if not grants:
        raise InvalidClientMetadata("grant_types must not be empty")
    unknown = [g for g in grants if g not in REGISTRABLE_GRANTS]
    if unknown:
        raise InvalidClientMetadata(f"unsupported grant type {safe_text(unknown[0], 60)}")
    refused = [g for g in grants if g not in tenant.settings.allowed_grant_types]
    if refused:
        raise InvalidClientMetadata(f"this server does not allow the {safe_text(refused[0], 60)} grant")
    response_types = _strings(metadata, "response_types")
    wants_code = "authorization_code" in grants
    if response_types is not None and sorted(set(response_types)) != (["code"] if wants_code else []):
        raise InvalidClientMetadata(
            "response_types must be [code] with the authorization_code grant, and empty without it"
        )
    try:
        scopes = scope_rules.parse(_string(metadata, "scope"))
    except ValueError:
        raise InvalidClientMetadata("scope has characters RFC 6749 section 3.3 forbids") from None
    allowed = set(tenant.settings.registration_scopes) | set(scope_rules.OPENID_SCOPES) | set(resource_scopes)
    not_allowed = [s for s in scopes if s not in allowed]
    if not_allowed:
        raise InvalidClientMetadata(f"scope {safe_text(not_allowed[0], 60)} cannot be registered here")
    dpop = metadata.get("dpop_bound_access_tokens", False)
    if not isinstance(dpop, bool):
        raise InvalidClientMetadata("dpop_bound_access_tokens must be true or false")
    try:
        name = check_display_name(_string(metadata, "client_name") or "", "client_name")
        logo_uri = check_logo_uri(_string(metadata, "logo_uri"))
        fields = check_client_fields(
            public=method == "none",
            redirect_uris=redirect_uris,
            grant_types=grants,
            scopes=scopes,
            refresh_grace_seconds=0,
            access_token_ttl=None,
            refresh_idle_ttl=None,
            refresh_absolute_ttl=None,
            name=name,
            logo_uri=logo_uri,
        )
    except InvalidRegistration as exc:
        if "redirect" in str(exc):
            raise InvalidRedirectUri(safe_text(exc, 300)) from None
        raise InvalidClientMetadata(safe_text(exc, 300)) from None
    return ClientMetadata(
        redirect_uris=fields.redirect_uris,
        grant_types=fields.grant_types,
        scopes=fields.scopes,
        auth_method=method,
        name=fields.name,
        logo_uri=fields.logo_uri,
        dpop_bound_access_tokens=dpop,
    )


@dataclass(frozen=True)
class Registered:
    """A client that has just registered itself, with the secrets shown to it once."""

    client: Client
    client_secret: str | None
    registration_access_token: str


async def resource_scopes(storage: Storage, tenant_id: TenantId) -> set[str]:
    """Every scope the tenant's protected resources accept: what a self-registered client may also ask for."""
    return {scope for resource in await storage.resources.list(tenant_id) for scope in resource.scopes}


async def register(storage: Storage, tenant: Tenant, metadata: ClientMetadata, *, now: Timestamp) -> Registered:
    """Store a self-registered client under a fresh random ``client_id``, with a registration access token.

    Spec: RFC 7591 §3.2.1; RFC 7592 §3 (the registration access token).
    """
    access_token = new_token(32)
    new = await register_client(
        storage,
        tenant.id,
        new_id(18),
        redirect_uris=metadata.redirect_uris,
        public=metadata.auth_method == "none",
        grant_types=metadata.grant_types,
        scopes=metadata.scopes,
        auth_method=metadata.auth_method,
        refresh_grace_seconds=0,
        dpop_bound_access_tokens=metadata.dpop_bound_access_tokens,
        name=metadata.name,
        logo_uri=metadata.logo_uri,
        registration_access_token_hash=hash_secret(access_token),
        created_at=now,
    )
    return Registered(client=new.client, client_secret=new.secret, registration_access_token=access_token)


def client_information(client: Client, *, issuer: str) -> dict[str, Any]:
    """The client information response (without the one-time secrets, which the caller adds when it has them).

    Spec: RFC 7591 §3.2.1; RFC 7592 §3.
    """
    info: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at),
        "registration_client_uri": f"{issuer}/register/{client.client_id}",
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
    }
    if client.token_endpoint_auth_method != "none":  # noqa: S105  (a method name, not a secret)
        info["client_secret_expires_at"] = 0
    if client.scopes:
        info["scope"] = " ".join(client.scopes)
    if client.name:
        info["client_name"] = client.name
    if client.logo_uri:
        info["logo_uri"] = client.logo_uri
    return info


def check_registration_access_token(client: Client | None, presented: str | None) -> Client:
    """The self-registered ``client`` when ``presented`` is its registration access token; else ``invalid_token``
    (401), the same answer for an unknown client, a client registered by an administrator and a wrong token.

    Spec: RFC 7592 §2 (401 for an invalid registration access token), RFC 6750 §3.1.
    """
    if client is None or client.registration_access_token_hash is None or not presented:
        raise InvalidToken("the registration access token is not valid for this client")
    if not constant_time_equals(hash_secret(presented), client.registration_access_token_hash):
        raise InvalidToken("the registration access token is not valid for this client")
    return client


# -- initial access tokens (RFC 7591 §3) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    record: RegistrationToken
    token: str
    """The whole token, ``{token_id}.{secret}``, shown once."""


async def create_registration_token(
    storage: Storage, tenant_id: TenantId, *, expires_in: int | None = None, now: Timestamp | None = None
) -> IssuedToken:
    """A new initial access token; only its SHA-256 is stored. ``expires_in`` seconds (None: until revoked)."""
    if expires_in is not None and expires_in <= 0:
        raise InvalidRegistration("--expires-in must be a positive number of seconds")
    if await storage.tenants.get(tenant_id) is None:
        raise NotFound(f"no tenant named {tenant_id[:64]!r}")
    now = time.time() if now is None else now
    token_id = new_id(9)
    token = f"{token_id}.{new_token(32)}"
    record = RegistrationToken(
        tenant_id=tenant_id,
        token_id=token_id,
        token_hash=hash_secret(token),
        created_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )
    await storage.registration_tokens.create(record)
    return IssuedToken(record=record, token=token)


async def revoke_registration_token(storage: Storage, tenant_id: TenantId, token_id: str) -> None:
    if not await storage.registration_tokens.delete(tenant_id, token_id):
        raise NotFound(f"no registration token {token_id[:64]!r} in tenant {tenant_id!r}")


async def check_initial_access_token(
    storage: Storage, tenant_id: TenantId, presented: str | None, *, now: Timestamp
) -> RegistrationToken:
    """The initial access token ``presented`` as a Bearer token, if it is live; else ``invalid_token`` (401).

    Spec: RFC 7591 §3 (the initial access token is an OAuth 2.0 Bearer token), RFC 6750 §3.1.
    """
    token_id, dot, _ = (presented or "").partition(".")
    record = await storage.registration_tokens.get(tenant_id, token_id) if dot and token_id else None
    valid = (
        record is not None
        and constant_time_equals(hash_secret(presented or ""), record.token_hash)
        and (record.expires_at is None or record.expires_at > now)
    )
    if record is None or not valid:
        raise InvalidToken("a valid initial access token is required to register")
    return record


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None. Spec: RFC 6750 §2.1."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None


def registration_views(tokens: Sequence[RegistrationToken]) -> list[dict[str, Any]]:
    """What ``pixie registration-tokens list`` shows: never the hashes."""
    return [{"token_id": t.token_id, "created_at": t.created_at, "expires_at": t.expires_at} for t in tokens]
