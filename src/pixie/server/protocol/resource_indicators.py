"""Resource indicators (RFC 8707): which protected resources an authorization or a token is for.

A client names each resource it wants a token for with a ``resource`` parameter (one or more) at ``/authorize``
and ``/token``. Each must be an absolute URI without fragment registered in the tenant (``pixie resources
create``), else the request fails with ``invalid_target``. The access token's ``aud`` is then exactly the named
resources, its scopes only those the resources accept, and its lifetime the shortest a resource sets.

The code and the refresh-token family remember the resources granted: a token request may name a subset of them
(one audience per token, if the client wishes), never another one. Without ``resource`` nothing changes: the
token's ``aud`` is the client's registered audiences, else the tenant's default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pixie import scopes as scope_rules
from pixie.errors import InvalidScope, InvalidTarget, safe_text
from pixie.protected_resources import identifier_problem
from pixie.storage.interfaces import ResourceStore
from pixie.storage.records import Resource
from pixie.types import TenantId

__all__ = [
    "MAX_RESOURCES",
    "Target",
    "consented_items",
    "granted_target",
    "narrow_to",
    "resource_values",
    "resolve_resources",
    "scopes_for_resources",
]

MAX_RESOURCES = 10
"""How many ``resource`` parameters one request may carry: a token meant for many APIs is a token that any of
them could replay against the others (RFC 8707 §1, RFC 9700 §4.10)."""


@dataclass(frozen=True)
class Target:
    """The registered resources a request or token is for (empty: none named), in the order named."""

    resources: tuple[Resource, ...] = ()

    @property
    def identifiers(self) -> tuple[str, ...]:
        return tuple(resource.identifier for resource in self.resources)

    @property
    def access_token_ttl(self) -> int | None:
        """The shortest lifetime any of the resources sets; None when none sets one."""
        lifetimes = [r.access_token_ttl for r in self.resources if r.access_token_ttl is not None]
        return min(lifetimes) if lifetimes else None


def resource_values(pairs: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """Every ``resource`` value of a request, checked: each an absolute URI without fragment, at most
    :data:`MAX_RESOURCES`, repeats dropped (order kept). An empty value counts as absent.

    Spec: RFC 8707 §2 (syntax; "may be used multiple times"), §2 ``invalid_target``.
    """
    values = [value for name, value in pairs if name == "resource" and value]
    if len(values) > MAX_RESOURCES:
        raise InvalidTarget(f"at most {MAX_RESOURCES} resource parameters")
    for value in values:
        problem = identifier_problem(value)
        if problem is not None:
            raise InvalidTarget(f"resource {safe_text(value, 100)} {problem}: it must be an absolute URI")
    return tuple(dict.fromkeys(values))


async def resolve_resources(store: ResourceStore, tenant_id: TenantId, identifiers: Sequence[str]) -> Target:
    """The registered resources named by ``identifiers`` (exact match); ``invalid_target`` when one is unknown.

    Spec: RFC 8707 §2 ("the authorization server … does not recognize the resource": ``invalid_target``).
    """
    if not identifiers:
        return Target()
    found = {resource.identifier: resource for resource in await store.get_many(tenant_id, identifiers)}
    unknown = [identifier for identifier in identifiers if identifier not in found]
    if unknown:
        raise InvalidTarget(f"unknown resource {safe_text(unknown[0], 100)}")
    return Target(tuple(found[identifier] for identifier in identifiers))


async def granted_target(
    store: ResourceStore, tenant_id: TenantId, granted: Sequence[str], requested: Sequence[str]
) -> Target:
    """The target of a token request on a grant (a code, a refresh token): the ``requested`` subset of the
    ``granted`` resources (:func:`narrow_to`), each still registered; without ``requested``, those of ``granted``
    still registered (a resource deleted since is left out), ``invalid_target`` when none is.

    Spec: RFC 8707 §2.2.
    """
    wanted = narrow_to(granted, requested)
    if requested or not wanted:
        return await resolve_resources(store, tenant_id, wanted)
    found = {resource.identifier: resource for resource in await store.get_many(tenant_id, wanted)}
    if not found:
        raise InvalidTarget("the resources of this grant are no longer registered")
    return Target(tuple(found[identifier] for identifier in wanted if identifier in found))


def narrow_to(granted: Sequence[str], requested: Sequence[str]) -> tuple[str, ...]:
    """The resources a token request may have: ``requested`` when each was granted, all of ``granted`` when none
    is named. A resource not granted is ``invalid_target``, even a registered one: a token request can narrow an
    authorization, never widen it.

    Spec: RFC 8707 §2.2 (a refresh "may" name a subset of the granted resources), RFC 6749 §6.
    """
    if not requested:
        return tuple(granted)
    outside = [identifier for identifier in requested if identifier not in granted]
    if outside:
        raise InvalidTarget(f"resource {safe_text(outside[0], 100)} was not part of this authorization")
    return tuple(requested)


def scopes_for_resources(scopes: Sequence[str], target: Target, *, explicit: bool) -> tuple[str, ...]:
    """``scopes`` limited to those one of the target's resources accepts (a resource that lists none accepts any);
    OpenID Connect scopes stay, since they are about the sign-in, not an API. Without a target, ``scopes`` as
    they are. When the client asked for scopes (``explicit``) and none of its API scopes is accepted, the request
    is ``invalid_scope`` rather than a token that can do nothing the client asked for.

    Spec: RFC 8707 §2 (the server may restrict scopes to the resource), RFC 6749 §3.3 (issuing fewer scopes).
    """
    if not target.resources or any(not resource.scopes for resource in target.resources):
        return tuple(scopes)
    accepted = {scope for resource in target.resources for scope in resource.scopes}
    kept = tuple(s for s in scopes if s in accepted or s in scope_rules.OPENID_SCOPES)
    asked_for_api = [s for s in scopes if s not in scope_rules.OPENID_SCOPES]
    if explicit and asked_for_api and not any(s in accepted for s in asked_for_api):
        raise InvalidScope(f"no requested scope is accepted by {safe_text(' '.join(target.identifiers), 200)}")
    return kept


def consented_items(scopes: Sequence[str], resources: Sequence[str]) -> tuple[str, ...]:
    """What a user's consent must cover: the scopes, and each resource as ``"resource <identifier>"`` (a space
    can be in no scope token, so such an entry never matches a scope). A consent given for one API then does not
    cover a request naming another, even for the same scopes.

    Spec: RFC 8707 §2 (the resource is part of what is authorized), RFC 6749 §3.3.
    """
    return (*scopes, *(f"resource {identifier}" for identifier in resources))
