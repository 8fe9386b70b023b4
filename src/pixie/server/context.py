"""Per-app state handed to every endpoint: built once by :mod:`pixie.server.app`, never a module global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from anyio import CapacityLimiter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from pixie.config import Settings
from pixie.errors import InvalidRequest, OAuthError
from pixie.events import EventSink
from pixie.resource.dpop import ProofChecker
from pixie.server.cors import CorsPolicy
from pixie.server.pages import Pages
from pixie.server.prometheus import Metrics
from pixie.server.protocol.sender_constraint import DPoPNonces
from pixie.server.ratelimit import RateLimiter
from pixie.server.security_headers import content_security_policy
from pixie.storage.interfaces import Storage
from pixie.storage.records import Tenant
from pixie.tenancy import DEFAULT_TENANT, TenantResolver, issuer_for
from pixie.tokens.codes import CodeSealer
from pixie.tokens.issuer import TokenIssuer
from pixie.tokens.keys import KeyRing

__all__ = ["AppContext", "TenantNotFound", "context_of", "tenant_of"]


def password_check_slots() -> CapacityLimiter:
    """One slot per core (at least two): Argon2id is CPU-bound, so more at once only costs memory."""
    return CapacityLimiter(max(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    storage: Storage
    keyring: KeyRing
    tenants: TenantResolver
    tokens: TokenIssuer
    pages: Pages
    cors: CorsPolicy
    events: EventSink
    limiter: RateLimiter
    metrics: Metrics
    dpop: ProofChecker = field(default_factory=ProofChecker)
    """Checks DPoP proofs at the token endpoint (algorithms and time window)."""
    dpop_nonces: DPoPNonces | None = None
    """Server nonces for tenants that require them (built from the master key by the composition root)."""

    password_checks: CapacityLimiter = field(default_factory=password_check_slots)
    """Password hashes checked at once. Each Argon2id check holds 64 MiB while it runs; without a bound, 16
    simultaneous logins took one worker to 1.1 GB (``bench/memory.py``), and anyio's default pool allows 40."""

    @cached_property
    def code_sealer(self) -> CodeSealer:
        """Seals and opens authorization codes, under a key derived from the master key."""
        return CodeSealer(self.settings.master_key)

    def issuer(self, tenant: Tenant) -> str:
        return issuer_for(self.settings.issuer, tenant.id)

    def path(self, tenant: Tenant, endpoint: str) -> str:
        """Absolute path of a tenant's endpoint on this server (``/login``, ``/t/acme/login``)."""
        prefix = "" if tenant.id == DEFAULT_TENANT else f"/t/{tenant.id}"
        return f"{prefix}{endpoint}"

    async def client_face(self, tenant: Tenant, client_id: str) -> tuple[str, str | None]:
        """How a page names a client: its display name (its id when it has none) and its logo's URL, if any."""
        client = await self.storage.clients.get(tenant.id, client_id)
        if client is None:
            return client_id, None
        return client.name or client.client_id, client.logo_uri

    def page(
        self,
        template: str,
        tenant: Tenant,
        *,
        status: int = 200,
        redirect_uri: str | None = None,
        image: str | None = None,
        **values: object,
    ) -> HTMLResponse:
        """Render a page; ``redirect_uri`` is where its form may end up and ``image`` an https image it shows (see
        ``content_security_policy``)."""
        response = self.pages.render(
            template,
            status=status,
            tenant_name=tenant.display_name,
            static_base="/static",
            theme_href=self.theme_href(tenant),
            **values,
        )
        if redirect_uri is not None or image is not None:
            response.headers["Content-Security-Policy"] = content_security_policy(
                [redirect_uri] if redirect_uri is not None else [], [image] if image is not None else []
            )
        return response

    def theme_href(self, tenant: Tenant) -> str:
        """The tenant's stylesheet (see :mod:`pixie.server.endpoints.theme`); the colour in the query makes a
        changed colour a new URL, so the sheet can be cached."""
        color = tenant.settings.brand_color.lstrip("#")
        return self.path(tenant, "/theme.css") + "?v=" + (color if color.isalnum() else "0")

    def error_page(self, error: OAuthError, tenant: Tenant, *, status: int = 400) -> HTMLResponse:
        """Our own error page (never a redirect), in the tenant's colours."""
        return self.page(
            "error.html",
            tenant,
            status=status,
            title="This request cannot be completed",
            description=error.description,
            error=error.error,
        )


class TenantNotFound(InvalidRequest):
    """The path names no enabled tenant. Rendered as 404 so tenant names are not probed through 400s."""

    status = 404
    default_description = "no such tenant"


def context_of(request: Request) -> AppContext:
    context: AppContext = request.app.state.pixie
    return context


async def tenant_of(request: Request) -> tuple[AppContext, Tenant]:
    """The app context and the tenant named by the path (``/t/{tenant}/...``; no prefix means the default)."""
    context = context_of(request)
    name = request.path_params.get("tenant", DEFAULT_TENANT)
    tenant = await context.tenants.resolve(name)
    if tenant is None:
        raise TenantNotFound()
    return context, tenant
