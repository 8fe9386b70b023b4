"""Protected resources of a tenant (RFC 8707): registering, changing and removing them, as plain functions that the
CLI (``pixie resources``) and the admin API share, with the one check of what a resource identifier may be.

A resource is an API that clients name in the ``resource`` parameter: tokens issued for it carry its identifier as
``aud``, only the scopes it accepts, and its own access-token lifetime when it has one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pixie import scopes as scope_rules
from pixie.management import InvalidRegistration, NotFound, check_display_name
from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import Resource
from pixie.types import TenantId

__all__ = [
    "MAX_ACCESS_TOKEN_TTL",
    "MAX_IDENTIFIER_LENGTH",
    "ResourceChanges",
    "create_resource",
    "delete_resource",
    "find_resource",
    "identifier_problem",
    "resource_view",
    "update_resource",
]

T = TypeVar("T")

MAX_IDENTIFIER_LENGTH = 2000
MAX_ACCESS_TOKEN_TTL = 86_400
"""A day: an access token is short-lived by design (RFC 9700 §4.14); longer sessions are refresh tokens' work."""

_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
"""``scheme ":" hier-part [ "?" query ]`` of URI characters only: no fragment, no space, no control or non-ASCII
character, no stray ``%`` (RFC 3986 §3, §4.3)."""


def identifier_problem(value: str) -> str | None:
    """Why ``value`` cannot be a resource identifier, or None when it can: an absolute URI (a scheme, then
    something) without a fragment, at most :data:`MAX_IDENTIFIER_LENGTH` characters. A ``resource`` parameter is
    compared to registered identifiers exactly, so nothing is normalised here.

    Spec: RFC 8707 §2 ("MUST be an absolute URI … MUST NOT include a fragment component"), RFC 3986 §4.3.
    """
    if not value:
        return "is empty"
    if len(value) > MAX_IDENTIFIER_LENGTH:
        return f"is longer than {MAX_IDENTIFIER_LENGTH} characters"
    if "#" in value:
        return "has a fragment"
    if not _ABSOLUTE_URI.fullmatch(value):
        return "is not an absolute URI"
    return None


def _check_identifier(identifier: str) -> str:
    problem = identifier_problem(identifier)
    if problem is not None:
        raise InvalidRegistration(f"resource {identifier[:100]!r} {problem} (RFC 8707: an absolute URI, no fragment)")
    return identifier


def _check_scopes(scopes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    try:
        return scope_rules.parse(" ".join(scopes))
    except ValueError as exc:
        raise InvalidRegistration(str(exc)) from None


def _check_ttl(ttl: int | None) -> int | None:
    if ttl is not None and not 1 <= ttl <= MAX_ACCESS_TOKEN_TTL:
        raise InvalidRegistration(f"access token lifetime must be 1-{MAX_ACCESS_TOKEN_TTL} seconds")
    return ttl


async def create_resource(
    storage: Storage,
    tenant_id: TenantId,
    identifier: str,
    *,
    name: str = "",
    scopes: tuple[str, ...] | list[str] = (),
    access_token_ttl: int | None = None,
) -> Resource:
    """Register a protected resource. Raises :class:`InvalidRegistration` for bad input and
    :class:`~pixie.storage.interfaces.AlreadyExists` for an identifier the tenant has already."""
    resource = Resource(
        tenant_id=tenant_id,
        identifier=_check_identifier(identifier),
        name=check_display_name(name, "resource name"),
        scopes=_check_scopes(scopes),
        created_at=time.time(),
        access_token_ttl=_check_ttl(access_token_ttl),
    )
    try:
        await storage.resources.create(resource)
    except AlreadyExists:
        raise AlreadyExists(f"resource {identifier[:100]!r} already exists in tenant {tenant_id!r}") from None
    return resource


async def find_resource(storage: Storage, tenant_id: TenantId, identifier: str) -> Resource:
    resource = await storage.resources.get(tenant_id, identifier)
    if resource is None:
        raise NotFound(f"no resource {identifier[:100]!r} in tenant {tenant_id!r}")
    return resource


@dataclass(frozen=True)
class ResourceChanges:
    """What to change (None: keep). ``clear_access_token_ttl`` goes back to the client's or tenant's lifetime."""

    name: str | None = None
    scopes: tuple[str, ...] | None = None
    access_token_ttl: int | None = None
    clear_access_token_ttl: bool = False


async def update_resource(storage: Storage, tenant_id: TenantId, identifier: str, changes: ResourceChanges) -> Resource:
    """Apply ``changes``, checked as registration checks them. Tokens already issued keep their scopes and ``aud``
    until they expire; new ones follow the change."""
    current = await find_resource(storage, tenant_id, identifier)
    ttl = None if changes.clear_access_token_ttl else _pick(changes.access_token_ttl, current.access_token_ttl)
    updated = replace(
        current,
        name=check_display_name(_pick(changes.name, current.name), "resource name"),
        scopes=_check_scopes(_pick(changes.scopes, current.scopes)),
        access_token_ttl=_check_ttl(ttl),
    )
    if not await storage.resources.update(updated):
        raise NotFound(f"no resource {identifier[:100]!r} in tenant {tenant_id!r}")
    return updated


async def delete_resource(storage: Storage, tenant_id: TenantId, identifier: str) -> None:
    """Remove a resource: no token is issued for it any more (a token request naming it is ``invalid_target``; a
    refresh of a grant that included it gets a token for the grant's other resources); tokens already issued for it
    keep working until they expire."""
    if not await storage.resources.delete(tenant_id, identifier):
        raise NotFound(f"no resource {identifier[:100]!r} in tenant {tenant_id!r}")


def resource_view(resource: Resource) -> dict[str, Any]:
    """A resource as ``--json`` and the admin API show it."""
    return {
        "tenant": resource.tenant_id,
        "resource": resource.identifier,
        "name": resource.name,
        "scope": " ".join(resource.scopes),
        "access_token_ttl": resource.access_token_ttl,
        "created_at": datetime.fromtimestamp(resource.created_at, UTC).isoformat(timespec="seconds"),
    }


def _pick(value: T | None, current: T) -> T:
    return current if value is None else value
