"""Scope strings (RFC 6749 §3.3): parsing, validation and subset rules."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from pixie.errors import InvalidScope

__all__ = ["BUILTIN_SCOPE_ROLES", "OPENID_SCOPES", "describe", "parse", "parse_requested", "permitted"]

OPENID_SCOPES = ("openid", "profile", "email")
"""The OpenID Connect scopes Pixie knows. Every client of the authorization-code grant may ask for them, registered
or not: they release who signed in (an ID token, userinfo claims), never access to an API.
Spec: OpenID Connect Core 1.0 §3.1.2.1 (``openid``), §5.4 (``profile``, ``email``)."""

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def parse(value: str | None) -> tuple[str, ...]:
    """Split a space-delimited scope string into unique tokens, keeping first-seen order.

    Raises ``ValueError`` for characters RFC 6749 §3.3 forbids. Empty or None gives ``()``.

    Spec: RFC 6749 §3.3.
    """
    if not value:
        return ()
    tokens = [t for t in value.split(" ") if t]
    for token in tokens:
        if not _TOKEN_RE.fullmatch(token):
            raise ValueError("scope tokens may contain only printable ASCII without spaces, '\"' or '\\'")
    return tuple(dict.fromkeys(tokens))


def parse_requested(value: str | None) -> tuple[str, ...]:
    """:func:`parse` for a request parameter: malformed input is the client's ``invalid_scope``.

    Spec: RFC 6749 §3.3, §4.1.2.1, §5.2.
    """
    try:
        return parse(value)
    except ValueError:
        raise InvalidScope("scope has characters RFC 6749 section 3.3 forbids") from None


BUILTIN_SCOPE_ROLES: dict[str, tuple[str, ...]] = {"pixie:admin": ("admin",)}
"""Gates no tenant setting can lift: only administrators may hold ``pixie:admin`` through a user flow."""


def permitted(
    scopes: Sequence[str], roles: Collection[str], scope_roles: Iterable[tuple[str, Sequence[str]]]
) -> tuple[str, ...]:
    """The part of ``scopes`` a user holding ``roles`` may receive: a scope gated in ``scope_roles`` needs one of
    its roles, any other scope passes. Order is kept. The caller issues the narrower set and says so in the token
    response's ``scope``.

    Spec: RFC 6749 §3.3 (the server may ignore requested scopes by its own policy) and §5.1.
    """
    gates = {**dict(scope_roles), **BUILTIN_SCOPE_ROLES}
    return tuple(s for s in scopes if s not in gates or any(role in roles for role in gates[s]))


_DESCRIPTIONS = {
    "properties:read": "View your properties",
    "properties:write": "Create and change your properties",
    "tenants:read": "View the tenants of your properties",
    "pixie:admin": "Administer this Pixie server",
    "offline_access": "Stay signed in when you are away",
    "openid": "Know who you are (your account identifier)",
    "profile": "See your name",
    "email": "See your email address",
}


def describe(scope: str) -> str:
    """Plain words for a scope on the consent page; unknown scopes are shown by name."""
    return _DESCRIPTIONS.get(scope, f"Use “{scope}”")
