"""Tenants: names, issuers and a cached resolver.

The default tenant is served at the bare base URL; every other tenant at ``{base}/t/{name}`` and that URL is its
issuer. Resolution is cached (:class:`TenantResolver`): a tenant disabled on another instance stops being served
within a second or so on a server (which follows the directory's changes), and at once for changes made through
this instance.

Per-tenant settings are changed only through :func:`change_settings`, which checks every value (ranges, grant
types, a ``#rrggbb`` colour that is safe to put in a stylesheet) so the CLI and the admin API refuse the same input
with the same message.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from pixie import scopes as scope_rules
from pixie.storage.cache import DirectoryWatch, RecentCache
from pixie.storage.interfaces import TenantStore
from pixie.storage.records import DirectoryChange, Tenant, TenantSettings
from pixie.types import TenantId

__all__ = [
    "DEFAULT_TENANT",
    "REGISTRATION_POLICIES",
    "SETTING_FLAGS",
    "SETTING_LIMITS",
    "TENANT_GRANT_TYPES",
    "TenantResolver",
    "change_settings",
    "issuer_for",
    "normalize_brand_color",
    "tenant_view",
    "validate_tenant_name",
]

DEFAULT_TENANT: TenantId = "default"
_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def validate_tenant_name(name: str) -> str:
    """Tenant names are DNS-label-like (lowercase letters, digits, inner hyphens, 1–63 chars): they appear in URLs."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"tenant name {name!r} must be 1-63 lowercase letters, digits or inner hyphens")
    return name


TENANT_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SETTING_LIMITS: dict[str, tuple[int, int]] = {
    "access_token_ttl": (30, 86_400),
    "refresh_idle_ttl": (60, 365 * 86_400),
    "refresh_absolute_ttl": (60, 365 * 86_400),
    "refresh_grace_seconds": (0, 60),
}
"""Inclusive bounds, in seconds, of the numeric settings :func:`change_settings` accepts."""
_COLOR_RE = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_TITLE_MAX = 80


def normalize_brand_color(value: str) -> str:
    """``#rgb`` or ``#rrggbb`` as lowercase ``#rrggbb``; ``ValueError`` for anything else. Nothing but these seven
    characters ever reaches a tenant's stylesheet, so a colour cannot smuggle CSS in."""
    if not _COLOR_RE.fullmatch(value):
        raise ValueError(f"brand colour {str(value)[:20]!r} must be a hex colour like #4f46e5 or #48c")
    digits = value[1:].lower()
    return "#" + ("".join(ch * 2 for ch in digits) if len(digits) == 3 else digits)


SETTING_FLAGS = (
    "dpop_nonce",
    "require_pushed_authorization_requests",
    "client_metadata_documents",
    "insecure_client_metadata_loopback",
)
"""Tenant settings that are on or off: DPoP server nonces (RFC 9449 §8), required pushed requests (RFC 9126),
https URLs as client ids (OAuth Client ID Metadata Document), and, for development only, such documents
served from loopback addresses."""
REGISTRATION_POLICIES = ("off", "token", "open")
"""Who may register a client at ``/register`` (RFC 7591): nobody, holders of an initial access token, anyone."""
_IDLE_DAYS = (1, 3650)


def change_settings(settings: TenantSettings, changes: Mapping[str, object]) -> TenantSettings:
    """``settings`` with ``changes`` applied, every value checked (``ValueError`` with a one-line reason).

    Accepted keys: the numeric ones in :data:`SETTING_LIMITS`, ``allowed_grant_types`` (a non-empty list drawn
    from :data:`TENANT_GRANT_TYPES`), ``login_title`` (1-80 printable characters), ``brand_color``, the flags
    in :data:`SETTING_FLAGS`, ``registration`` (one of :data:`REGISTRATION_POLICIES`), ``registration_scopes`` (a
    list of scopes, or a space-separated string) and ``registration_idle_days`` (1-3650).
    """
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in SETTING_LIMITS:
            low, high = SETTING_LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number of seconds from {low} to {high}")
            values[name] = value
        elif name == "allowed_grant_types":
            if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
                raise ValueError(f"allowed_grant_types must be a non-empty list of: {', '.join(TENANT_GRANT_TYPES)}")
            unknown = [str(g)[:40] for g in value if g not in TENANT_GRANT_TYPES]
            if unknown:
                raise ValueError(f"unknown grant type(s) {', '.join(unknown)}; known: {', '.join(TENANT_GRANT_TYPES)}")
            values[name] = tuple(dict.fromkeys(str(g) for g in value))
        elif name == "login_title":
            title = value.strip() if isinstance(value, str) else ""
            if not title or len(title) > _TITLE_MAX or not title.isprintable():
                raise ValueError(f"login_title must be 1-{_TITLE_MAX} printable characters")
            values[name] = title
        elif name == "brand_color":
            values[name] = normalize_brand_color(str(value))
        elif name == "registration":
            if value not in REGISTRATION_POLICIES:
                raise ValueError(f"registration must be one of: {', '.join(REGISTRATION_POLICIES)}")
            values[name] = value
        elif name == "registration_scopes":
            words = value.split() if isinstance(value, str) else value
            if not isinstance(words, list | tuple) or not all(isinstance(w, str) for w in words):
                raise ValueError("registration_scopes must be a list of scopes")
            try:
                values[name] = scope_rules.parse(" ".join(words))
            except ValueError as exc:
                raise ValueError(f"registration_scopes: {exc}") from None
        elif name == "registration_idle_days":
            low, high = _IDLE_DAYS
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"registration_idle_days must be a whole number of days from {low} to {high}")
            values[name] = value
        elif name in SETTING_FLAGS:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            values[name] = value
        else:
            known = sorted(
                [
                    *SETTING_LIMITS,
                    *SETTING_FLAGS,
                    "allowed_grant_types",
                    "login_title",
                    "brand_color",
                    "registration",
                    "registration_scopes",
                    "registration_idle_days",
                ]
            )
            raise ValueError(f"unknown setting {str(name)[:40]!r}; known: {', '.join(known)}")
    changed = dataclasses.replace(settings, **values)
    if changed.refresh_idle_ttl > changed.refresh_absolute_ttl:
        raise ValueError("refresh_idle_ttl cannot exceed refresh_absolute_ttl")
    return changed


def tenant_view(tenant: Tenant, base: str) -> dict[str, Any]:
    """What the CLI and the admin API show of a tenant: never the webhooks' sealed secrets."""
    settings = tenant.settings
    return {
        "tenant": tenant.id,
        "display_name": tenant.display_name,
        "issuer": issuer_for(base, tenant.id),
        "disabled": tenant.disabled,
        "created_at": tenant.created_at,
        "settings": {
            "access_token_ttl": settings.access_token_ttl,
            "refresh_idle_ttl": settings.refresh_idle_ttl,
            "refresh_absolute_ttl": settings.refresh_absolute_ttl,
            "refresh_grace_seconds": settings.refresh_grace_seconds,
            "allowed_grant_types": list(settings.allowed_grant_types),
            "login_title": settings.login_title,
            "brand_color": settings.brand_color,
            "signing_alg": settings.signing_alg,
            "dpop_nonce": settings.dpop_nonce,
            "require_pushed_authorization_requests": settings.require_pushed_authorization_requests,
            "registration": settings.registration,
            "registration_scopes": list(settings.registration_scopes),
            "registration_idle_days": settings.registration_idle_days,
            "client_metadata_documents": settings.client_metadata_documents,
            "insecure_client_metadata_loopback": settings.insecure_client_metadata_loopback,
        },
    }


def issuer_for(base: str, tenant_id: TenantId) -> str:
    """The issuer identifier of a tenant (RFC 8414 §2)."""
    base = base.rstrip("/")
    return base if tenant_id == DEFAULT_TENANT else f"{base}/t/{tenant_id}"


class TenantResolver:
    """Looks tenants up by name, remembering what it found, and names it did not find (so made-up names in URLs
    cost one read each), bounded by ``max_entries``.

    Without a ``watch`` an entry lives ``ttl`` seconds; with one it lives until the tenant changes (see
    :mod:`pixie.storage.cache`)."""

    def __init__(
        self,
        store: TenantStore,
        *,
        ttl: float = 10.0,
        max_entries: int = 50_000,
        watch: DirectoryWatch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache: RecentCache[TenantId, Tenant | None] = RecentCache(
            ttl=ttl, max_entries=max_entries, watch=watch, clock=clock
        )
        if watch is not None:
            watch.subscribe(self._changed)

    def _changed(self, change: DirectoryChange | None) -> None:
        if change is None:
            self._cache.clear()
        elif change.kind == "tenant":
            self._cache.discard(change.tenant_id)

    async def resolve(self, tenant_id: TenantId) -> Tenant | None:
        """The enabled tenant with this name, or None (unknown or disabled)."""
        hit = self._cache.get(tenant_id)
        if hit is not None:
            tenant = hit[0]
        else:
            epoch = self._cache.epoch()
            tenant = await self._store.get(tenant_id) if _NAME_RE.fullmatch(tenant_id) else None
            self._cache.put(tenant_id, tenant, epoch)
        return tenant if tenant is not None and not tenant.disabled else None

    def invalidate(self, tenant_id: TenantId | None = None) -> None:
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.discard(tenant_id)
