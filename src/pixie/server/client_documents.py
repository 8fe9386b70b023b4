"""Clients whose ``client_id`` is the URL of their metadata document, fetched when first seen and cached.

:class:`MetadataDocumentClients` is a :class:`~pixie.storage.interfaces.ClientStore` in front of the real one. For a
tenant with ``client_metadata_documents`` on, a ``client_id`` that is an https URL is not looked up in the database:
the document at that URL is fetched, checked (:mod:`pixie.server.protocol.client_id_documents`) and served as a
public client; every other id goes to the database as before. A document that cannot be used makes the client
unknown (``/authorize`` shows its error page; ``/token`` answers ``invalid_client``), and the reason is logged.

Server-side request forgery is what this must not become, so each fetch:

- takes only https (http only on loopback, and only with the development setting ``insecure_client_metadata_loopback``);
- resolves the host itself, refuses the fetch if *any* address it resolves to is private, loopback, link-local,
  multicast or otherwise not global (loopback allowed only by that setting), and then connects to the address it
  checked — the URL's host is sent as ``Host`` and as TLS server name, and the certificate is verified against it —
  so a second DNS answer cannot move the connection elsewhere;
- follows no redirect, gives up after 5 seconds in all, and reads at most 5 KiB.

Documents are cached in process memory for as long as their ``Cache-Control`` allows, at most 24 hours; failures
for a minute, so a client id that does not work cannot make Pixie fetch on every request.

Spec: draft-ietf-oauth-client-id-metadata-document §4.1 (fetching and caching), §6 (SSRF and denial of service).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from pixie.server.protocol.client_id_documents import (
    MAX_DOCUMENT_BYTES,
    DocumentRefused,
    address_allowed,
    cache_lifetime,
    check_client_id_url,
    client_from_document,
    is_client_id_url,
)
from pixie.storage.interfaces import ClientStore, ResourceStore
from pixie.storage.records import Client, EndedAccess, Tenant
from pixie.tenancy import TenantResolver
from pixie.types import TenantId, Timestamp

__all__ = ["MetadataDocumentClients", "fetch_document"]

log = logging.getLogger("pixie.client_documents")

_FAILURE_SECONDS = 60.0
_MAX_ENTRIES = 10_000


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def fetch_document(
    url: str,
    *,
    allow_loopback: bool = False,
    timeout: float = 5.0,  # noqa: ASYNC109  (the limit is part of the rule, applied with asyncio.timeout inside)
) -> tuple[bytes, str | None]:
    """GET ``url`` under the rules in this module's docstring; the body and its ``Cache-Control``.

    Raises :class:`DocumentRefused` for any refusal or failure. Spec: draft-ietf-oauth-client-id-metadata-document
    §4.1, §6.
    """
    host = check_client_id_url(url, allow_loopback_http=allow_loopback)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout):
            try:
                addresses = await _resolve(host, port)
            except OSError:
                raise DocumentRefused(f"the host {host[:100]} does not resolve") from None
            refused = [a for a in addresses if not address_allowed(a, allow_loopback=allow_loopback)]
            if refused or not addresses:
                raise DocumentRefused(f"the host {host[:100]} resolves to an address Pixie does not fetch from")
            address = addresses[0]
            literal = f"[{address}]" if ":" in address else address
            target = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path, parts.query, ""))
            headers = {"Host": parts.netloc, "Accept": "application/json"}
            extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
            async with (
                httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http,
                http.stream("GET", target, headers=headers, extensions=extensions) as response,
            ):
                if response.status_code != 200:
                    raise DocumentRefused(f"the document URL answered {response.status_code}")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise DocumentRefused(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
                return body, response.headers.get("cache-control")
    except TimeoutError:
        raise DocumentRefused(f"the document did not arrive within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DocumentRefused(f"the document could not be fetched ({type(exc).__name__})") from None


class MetadataDocumentClients:
    """A :class:`ClientStore` that also knows clients by their metadata document's URL (see the module docstring).
    Every operation but :meth:`get` is the inner store's."""

    def __init__(
        self,
        inner: ClientStore,
        tenants: TenantResolver,
        *,
        resources: ResourceStore | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self._tenants = tenants
        self._resources = resources
        self._timeout = timeout
        self._clock = clock
        self._documents: dict[tuple[str, bool], tuple[float, bytes | None]] = {}
        """(url, loopback allowed) -> (use until, body or None for a failure)."""
        self._fetching: dict[tuple[str, bool], asyncio.Future[bytes | None]] = {}
        self._warned: set[TenantId] = set()

    async def get(self, tenant_id: TenantId, client_id: str) -> Client | None:
        if not is_client_id_url(client_id, allow_loopback_http=True):
            return await self._inner.get(tenant_id, client_id)
        tenant = await self._tenants.resolve(tenant_id)
        if tenant is None or not tenant.settings.client_metadata_documents:
            return await self._inner.get(tenant_id, client_id)
        return await self.document_client(tenant, client_id)

    async def document_client(self, tenant: Tenant, url: str) -> Client | None:
        """The client described by the document at ``url``, fetched or from the cache; None if it cannot be used."""
        allow_loopback = tenant.settings.insecure_client_metadata_loopback
        if allow_loopback and tenant.id not in self._warned:
            self._warned.add(tenant.id)
            log.warning(
                "tenant %s fetches client metadata documents from loopback addresses over http "
                "(insecure_client_metadata_loopback): for development only",
                tenant.id,
            )
        body = await self._document(url, allow_loopback)
        if body is None:
            return None
        scopes: set[str] = set()
        if self._resources is not None:
            scopes = {scope for resource in await self._resources.list(tenant.id) for scope in resource.scopes}
        try:
            return client_from_document(url, body, tenant=tenant, now=self._clock(), resource_scopes=scopes)
        except DocumentRefused as exc:
            log.info("client metadata document %s refused: %s", url[:200], exc)
            return None

    async def _document(self, url: str, allow_loopback: bool) -> bytes | None:
        key = (url, allow_loopback)
        now = self._clock()
        cached = self._documents.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._fetching.get(key)
        if pending is not None:  # single flight: concurrent requests for one document wait for one fetch
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._fetching[key] = future
        try:
            try:
                body, cache_control = await fetch_document(url, allow_loopback=allow_loopback, timeout=self._timeout)
                result: bytes | None = body
                lifetime = cache_lifetime(cache_control)
            except DocumentRefused as exc:
                log.info("client metadata document %s not used: %s", url[:200], exc)
                result, lifetime = None, _FAILURE_SECONDS
            if len(self._documents) >= _MAX_ENTRIES:
                self._documents.clear()  # bounded memory; a cold cache only costs fetches
            if lifetime > 0:
                self._documents[key] = (now + lifetime, result)
            else:
                self._documents.pop(key, None)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter-less future must not warn
            raise
        finally:
            del self._fetching[key]

    # -- the rest of ClientStore: the inner store's ---------------------------------------------------------------

    async def create(self, client: Client) -> None:
        await self._inner.create(client)

    async def list(self, tenant_id: TenantId) -> builtins.list[Client]:
        return await self._inner.list(tenant_id)

    async def set_disabled(self, tenant_id: TenantId, client_id: str, disabled: bool) -> bool:
        return await self._inner.set_disabled(tenant_id, client_id, disabled)

    async def update(self, client: Client) -> bool:
        return await self._inner.update(client)

    async def touch(self, tenant_id: TenantId, client_id: str, now: Timestamp, *, every: float = 3600.0) -> None:
        await self._inner.touch(tenant_id, client_id, now, every=every)

    async def list_idle_registered(
        self, tenant_id: TenantId, before: Timestamp, *, limit: int = 500
    ) -> builtins.list[Client]:
        return await self._inner.list_idle_registered(tenant_id, before, limit=limit)

    async def end_access(self, tenant_id: TenantId, client_id: str, reason: str, now: Timestamp) -> EndedAccess:
        return await self._inner.end_access(tenant_id, client_id, reason, now)

    async def delete(self, tenant_id: TenantId, client_id: str, now: Timestamp) -> EndedAccess | None:
        return await self._inner.delete(tenant_id, client_id, now)
