"""The composition root: the one place that picks concrete implementations and wires them together.

``create_app(settings)`` returns an ASGI app whose lifespan opens the database, applies migrations, makes sure the
default tenant and its signing keys exist, and closes everything on shutdown. Nothing here is a module global, so
two apps with different settings can live in one process (tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from pixie import passwords
from pixie.audit import AuditLog
from pixie.config import (
    Settings,
)
from pixie.events import BufferedEventSink, EventOutlet, EventSink, NullEventSink
from pixie.housekeeping import run_periodically
from pixie.server import openapi
from pixie.server.backend import check_master_key, open_backend, rotation_hint, settings_from_env
from pixie.server.client_documents import MetadataDocumentClients
from pixie.server.context import AppContext
from pixie.server.cors import CorsPolicy, with_cors
from pixie.server.edge import Edge
from pixie.server.endpoints import (
    admin,
    admin_api,
    authorize,
    consent,
    discovery,
    health,
    login,
    openid,
    par,
    registration,
    site,
    theme,
    token,
    token_management,
)
from pixie.server.endpoints import metrics as metrics_endpoint
from pixie.server.pages import Pages
from pixie.server.prometheus import Metrics
from pixie.server.protocol.sender_constraint import DPoPNonces
from pixie.server.ratelimit import RateLimiter
from pixie.server.routing import Endpoint, IndexedRouter
from pixie.server.webhook_delivery import WebhookDispatcher
from pixie.storage.cache import CachedClientStore, DirectoryWatch
from pixie.tenancy import TenantResolver
from pixie.tokens.issuer import TokenIssuer

__all__ = [
    "app_from_env",
    "check_master_key",
    "create_app",
    "open_backend",
    "rotation_hint",
    "settings_from_env",
    "tenant_routes",
]

log = logging.getLogger("pixie.server")


def tenant_routes() -> list[BaseRoute]:
    """Routes every tenant has; mounted at ``/`` for the default tenant and at ``/t/{tenant}`` for the others."""
    return [
        Endpoint("/", site.home, methods=["GET"]),
        Endpoint("/authorize", authorize.authorize, methods=["GET"]),
        Endpoint("/login", login.login, methods=["GET", "POST"]),
        Endpoint("/consent", consent.consent, methods=["GET", "POST"]),
        Endpoint("/logout", login.logout, methods=["POST"]),
        Endpoint("/token", with_cors(token.token, methods="POST"), methods=["POST", "OPTIONS"]),
        Endpoint("/revoke", with_cors(token_management.revoke, methods="POST"), methods=["POST", "OPTIONS"]),
        Endpoint("/introspect", token_management.introspect, methods=["POST"]),
        Endpoint("/par", with_cors(par.par, methods="POST"), methods=["POST", "OPTIONS"]),
        Endpoint("/jwks.json", with_cors(discovery.jwks, methods="GET"), methods=["GET", "OPTIONS"]),
        Endpoint("/theme.css", theme.theme_css, methods=["GET"]),
        Endpoint("/userinfo", with_cors(openid.userinfo, methods="GET, POST"), methods=["GET", "POST", "OPTIONS"]),
        Endpoint("/end_session", openid.end_session, methods=["GET", "POST"]),
        Endpoint("/register", registration.register_client, methods=["POST"]),
        Endpoint("/register/{client_id}", registration.registered_client, methods=["GET", "DELETE"]),
    ]


def _routes() -> list[BaseRoute]:
    well_known = "/.well-known/oauth-authorization-server"
    metadata = with_cors(discovery.metadata, methods="GET")
    openid_well_known = "/.well-known/openid-configuration"
    return [
        Endpoint(well_known, metadata, methods=["GET", "OPTIONS"]),
        # RFC 8414 §3.1: the well-known segment goes between host and the issuer's path.
        Endpoint(well_known + "/t/{tenant}", metadata, methods=["GET", "OPTIONS"]),
        Endpoint("/t/{tenant}" + well_known, metadata, methods=["GET", "OPTIONS"]),
        # OpenID Connect Discovery §4: the issuer followed by the well-known path (and RFC 8414's form, for tenants).
        Endpoint(openid_well_known, metadata, methods=["GET", "OPTIONS"]),
        Endpoint("/t/{tenant}" + openid_well_known, metadata, methods=["GET", "OPTIONS"]),
        Endpoint(openid_well_known + "/t/{tenant}", metadata, methods=["GET", "OPTIONS"]),
        Endpoint("/healthz", health.healthz, methods=["GET"]),
        Endpoint("/favicon.ico", site.favicon, methods=["GET"]),
        Endpoint("/metrics", metrics_endpoint.metrics, methods=["GET"]),
        Endpoint("/admin", admin.dashboard, methods=["GET"]),
        Endpoint("/admin/callback", admin.admin_callback, methods=["GET"]),
        Endpoint("/admin/charts/{name}.svg", admin.admin_chart, methods=["GET"]),
        Endpoint("/admin/logout", admin.admin_logout, methods=["POST"]),
        Endpoint("/readyz", health.readyz, methods=["GET"]),
        Endpoint("/openapi.json", openapi.openapi_json, methods=["GET"]),
        *admin_api.admin_api_routes(),  # JSON admin API, default tenant only (pixie:admin tokens of that tenant)
        Mount("/static", app=StaticFiles(directory=Path(__file__).with_name("static")), name="static"),
        Mount("/t/{tenant}", routes=tenant_routes()),
        *tenant_routes(),
    ]


_FOLLOWED_TTL = 600.0
"""How long a cached tenant, client or signing key may be served without a change being seen: a bound for safety
only, since the directory watch drops changed entries within about a second."""


def create_app(settings: Settings, *, freeze_heap: bool = False) -> Starlette:
    """The authorization server. ``freeze_heap`` is for a process that serves only this app (``pixie serve``): see
    :func:`_freeze_startup_heap`."""
    metrics = Metrics(labels=settings.metrics_labels)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A key file these settings were to write may have been written since they were made (by another app of
        # this process, or another process starting on the same new database): then its key is the one.
        live = settings.reread_pending_key()
        async with open_backend(live, serving=True) as (stored, keyring):
            # The composition root picks the hot-path caches here: every request resolves its tenant, most look a
            # client up, and every token is signed. They follow the directory's changes (pixie.storage.cache), so
            # they keep what they read until it changes, on this instance or any other.
            watch = DirectoryWatch(stored.changes)
            await watch.start()
            tenants = TenantResolver(stored.tenants, ttl=_FOLLOWED_TTL, watch=watch)
            cached_clients = CachedClientStore(stored.clients, ttl=_FOLLOWED_TTL, watch=watch)
            keyring.follow(watch, ttl=_FOLLOWED_TTL)
            # Clients known by their metadata document's URL are fetched (and cached) in front of the database.
            clients = MetadataDocumentClients(cached_clients, tenants, resources=stored.resources)
            storage = dataclasses.replace(stored, clients=clients)
            audit = AuditLog(live.audit_log) if live.audit_log else None
            webhooks = WebhookDispatcher(tenants, live.master_key, backoff=live.webhook_backoff)
            outlets: list[EventOutlet] = [webhooks] if audit is None else [audit, webhooks]
            stored_events = BufferedEventSink(storage.events, outlets=outlets, count=metrics.record_event)
            metrics.watch_dropped_events(lambda: float(stored_events.dropped))
            limiter = RateLimiter(live.rate_limits, redis_url=live.redis_url)
            # PIXIE_EVENTS=off exists to measure what events cost (bench/); nothing else should turn them off.
            events: EventSink = stored_events if live.events_enabled else NullEventSink()
            app.state.pixie = AppContext(
                settings=live,
                storage=storage,
                keyring=keyring,
                tenants=tenants,
                tokens=TokenIssuer(keyring),
                pages=Pages(),
                cors=CorsPolicy(storage.clients),
                events=events,
                limiter=limiter,
                metrics=metrics,
                dpop_nonces=DPoPNonces(live.master_key),
            )
            await asyncio.to_thread(passwords.warm_up)
            if freeze_heap:
                _freeze_startup_heap()
            log.info("pixie is serving issuer %s", live.issuer)
            background = [
                asyncio.create_task(watch.run(), name="pixie-directory-watch"),
                asyncio.create_task(stored_events.run(), name="pixie-events"),
                asyncio.create_task(webhooks.run(), name="pixie-webhooks"),
            ]
            if audit is not None:
                background.append(asyncio.create_task(audit.run(), name="pixie-audit"))
            if live.housekeeping_interval > 0:
                background.append(
                    asyncio.create_task(
                        run_periodically(
                            storage,
                            keyring,
                            live.housekeeping_interval,
                            events=events,
                            events_retention_days=live.events_retention_days,
                        ),
                        name="pixie-housekeeping",
                    )
                )
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await limiter.aclose()

    # Starlette answers "/authorize/" (or "/t/x") with a 307 to the same path +/- a slash on the origin named by the
    # Host header, query included: a redirect Pixie did not choose. Every endpoint has one exact path; 404 instead.
    return _Server(IndexedRouter(_routes(), redirect_slashes=False, lifespan=lifespan), metrics)


class _Server(Starlette):
    """Starlette with :class:`~pixie.server.edge.Edge` as the one layer between the HTTP server and the router.

    Starlette's default stack puts two more layers around every request: an outer error guard and a layer that
    maps exceptions to registered handlers. Edge is the server's error guard (it also renders the 404 and 405 that
    routing raises), and the server registers no handlers, so both only added a coroutine frame and a ``send``
    wrapper each to every request.
    """

    def __init__(self, router: Router, metrics: Metrics) -> None:
        super().__init__()
        self.router = router
        self._metrics = metrics

    def build_middleware_stack(self) -> ASGIApp:
        return Edge(self.router, metrics=self._metrics)


def _freeze_startup_heap() -> None:
    """Exempt everything alive after start-up (modules, SQLAlchemy and Alembic metadata, templates, caches) from
    Python's cyclic garbage collector, which otherwise walks it all on every full collection.

    Under load, a full collection that walks the whole start-up heap stalls every request in flight and shows in
    the slowest responses; frozen, a collection walks only what requests allocated. Frozen objects are still freed
    by reference counting; only cycles among them would be kept, and start-up leaves none once collected first.
    """
    gc.collect()
    gc.freeze()


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` (used by ``pixie serve``): settings from the environment; the process
    serves nothing else, so its start-up heap is frozen (:func:`_freeze_startup_heap`)."""
    return create_app(settings_from_env(), freeze_heap=True)
