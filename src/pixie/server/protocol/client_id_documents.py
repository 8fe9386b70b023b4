"""Client ID Metadata Documents: an https URL as ``client_id``, naming a JSON document of the client's metadata.

This module holds the rules, without any I/O: which URLs may be a client id and be fetched
(:func:`check_client_id_url`), which addresses they may resolve to (:func:`address_allowed`), how long a fetched
document may be kept (:func:`cache_lifetime`) and what makes a document a client (:func:`client_from_document`). The
fetching itself is :mod:`pixie.server.client_documents`.

Such a client is always public (``token_endpoint_auth_method`` ``none``): its document is public, so it cannot hold
a secret. Its metadata is checked exactly as a dynamic registration's
(:func:`pixie.registration.check_client_metadata`), so the tenant's ``registration_scopes`` bound what it may ask
for, and its redirect URIs are compared with those of the document (RFC 8252's loopback rule included).

Spec: draft-ietf-oauth-client-id-metadata-document §3 (the client identifier URL), §4 (the document: ``client_id``
equal to the URL, no shared secret), §4.1 (fetching, caching), §6 (security: SSRF, size and time limits).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from pixie.errors import OAuthError
from pixie.registration import check_client_metadata
from pixie.storage.records import Client, Tenant
from pixie.types import Timestamp

__all__ = [
    "MAX_CACHE_SECONDS",
    "MAX_DOCUMENT_BYTES",
    "DocumentRefused",
    "address_allowed",
    "cache_lifetime",
    "check_client_id_url",
    "client_from_document",
    "is_client_id_url",
]

MAX_DOCUMENT_BYTES = 5 * 1024
"""A client's metadata is a few hundred bytes; more is refused unread (a fetch must not be a way to fill memory)."""
MAX_CACHE_SECONDS = 24 * 3600
"""However long a document's ``Cache-Control`` allows, it is fetched again after a day."""
DEFAULT_CACHE_SECONDS = 300
"""How long a document that says nothing about caching is kept."""
_MAX_URL_LENGTH = 2000
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$|=)", re.IGNORECASE)


class DocumentRefused(ValueError):
    """A client id URL or document that Pixie will not use, with a one-line reason (logged, never shown raw)."""


def is_client_id_url(client_id: str, *, allow_loopback_http: bool = False) -> bool:
    """Whether ``client_id`` is meant as a metadata document's URL (rather than a registered client's id)."""
    return client_id.startswith("https://") or (allow_loopback_http and client_id.startswith("http://"))


def check_client_id_url(url: str, *, allow_loopback_http: bool = False) -> str:
    """The URL, if it may be a client id: https, with a path, without fragment, user information or dot segments,
    at most 2,000 characters. ``allow_loopback_http`` (development) also accepts ``http`` on a loopback host.

    Returns the host to resolve. Spec: draft-ietf-oauth-client-id-metadata-document §3.
    """
    if len(url) > _MAX_URL_LENGTH or any(ch.isspace() or not ch.isprintable() or ord(ch) > 126 for ch in url):
        raise DocumentRefused("the client id URL is too long or holds characters a URL cannot")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise DocumentRefused("the client id is not a valid URL") from None
    host = parts.hostname or ""
    if parts.scheme != "https" and not (allow_loopback_http and parts.scheme == "http" and _is_loopback_name(host)):
        raise DocumentRefused("a client id URL must use https")
    if not host or "@" in parts.netloc:
        raise DocumentRefused("a client id URL needs a host and no user information")
    if parts.fragment or "#" in url:
        raise DocumentRefused("a client id URL must not have a fragment")
    segments = parts.path.split("/")
    if not parts.path.strip("/") or "." in segments or ".." in segments:
        raise DocumentRefused("a client id URL needs a path without . or .. segments")
    return host


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_allowed(address: str, *, allow_loopback: bool = False) -> bool:
    """Whether Pixie may connect to ``address`` to fetch a document: a global unicast address only — never a
    private, loopback, link-local, multicast, reserved or unspecified one (an attacker's client id must not make
    Pixie reach into its own network) — except loopback when ``allow_loopback`` (development).

    Spec: draft-ietf-oauth-client-id-metadata-document §6 (server-side request forgery); RFC 6890.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def cache_lifetime(cache_control: str | None) -> float:
    """Seconds a fetched document may be used: its ``Cache-Control`` ``max-age`` (0 for ``no-store`` or
    ``no-cache``), :data:`DEFAULT_CACHE_SECONDS` when it says nothing, never more than a day.

    Spec: RFC 9111 §5.2.2; draft-ietf-oauth-client-id-metadata-document §4.1.
    """
    if not cache_control:
        return float(DEFAULT_CACHE_SECONDS)
    if _NO_CACHE.search(cache_control):
        return 0.0
    found = _MAX_AGE.search(cache_control)
    if found is None:
        return float(DEFAULT_CACHE_SECONDS)
    return float(min(int(found.group(1)), MAX_CACHE_SECONDS))


def client_from_document(
    url: str, body: bytes, *, tenant: Tenant, now: Timestamp, resource_scopes: Collection[str] = ()
) -> Client:
    """The public client a fetched document describes, for ``tenant``.

    The document must be a JSON object whose ``client_id`` is the URL it was fetched from, character for
    character; it must not carry a secret or ask for a secret-based authentication method; the rest is checked as
    dynamic registration metadata is (redirect URIs, grant types, scopes, name, logo).

    Spec: draft-ietf-oauth-client-id-metadata-document §4 (``client_id`` equals the URL; no ``client_secret``,
    no ``client_secret_*`` method), §4.1 (validation); RFC 7591 §2.
    """
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DocumentRefused("the client metadata document is not JSON") from None
    if not isinstance(document, dict):
        raise DocumentRefused("the client metadata document is not a JSON object")
    if document.get("client_id") != url:
        raise DocumentRefused("the document's client_id is not the URL it was fetched from")
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise DocumentRefused("a client metadata document must not hold a client secret")
    if document.get("token_endpoint_auth_method", "none") != "none":
        raise DocumentRefused("a client metadata document's client is public: token_endpoint_auth_method none")
    fields = {k: v for k, v in document.items() if k != "client_id"}
    defaults = [g for g in ("authorization_code", "refresh_token") if g in tenant.settings.allowed_grant_types]
    fields.setdefault("grant_types", defaults)
    try:
        metadata = check_client_metadata(fields, tenant=tenant, public_only=True, resource_scopes=resource_scopes)
    except OAuthError as exc:
        raise DocumentRefused(exc.description) from None
    if not metadata.redirect_uris:
        raise DocumentRefused("a client metadata document must list redirect_uris")
    return Client(
        tenant_id=tenant.id,
        client_id=url,
        client_type="public",
        token_endpoint_auth_method="none",  # noqa: S106  (a method name, not a secret)
        redirect_uris=metadata.redirect_uris,
        grant_types=metadata.grant_types,
        scopes=metadata.scopes,
        created_at=now,
        name=metadata.name,
        logo_uri=metadata.logo_uri,
        dpop_bound_access_tokens=metadata.dpop_bound_access_tokens,
    )
