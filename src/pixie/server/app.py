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
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pixie import passwords
from pixie.audit import AuditLog
from pixie.config import (
    MASTER_KEY_ENV,
    ConfigError,
    MasterKeyMismatch,
    MasterKeySource,
    Settings,
    masked_url,
    read_key_file,
    staged_key_file,
    write_key_file,
)
from pixie.events import BufferedEventSink, EventOutlet, EventSink, NullEventSink
from pixie.housekeeping import run_periodically
from pixie.management import ensure_default_tenant
from pixie.security import key_fingerprint
from pixie.server import openapi
from pixie.server.admin_session import ensure_admin_client
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
from pixie.server.routing import IndexedRouter
from pixie.server.webhook_delivery import WebhookDispatcher
from pixie.storage.cache import CachedClientStore
from pixie.storage.interfaces import Storage, StorageUnavailable
from pixie.storage.schema import normalize_url, open_storage, sqlite_file
from pixie.storage.schema.errors import describe
from pixie.tenancy import DEFAULT_TENANT, TenantResolver
from pixie.tokens.issuer import TokenIssuer
from pixie.tokens.keys import KeyRing, describe_fingerprints

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
        Route("/", site.home, methods=["GET"]),
        Route("/authorize", authorize.authorize, methods=["GET"]),
        Route("/login", login.login, methods=["GET", "POST"]),
        Route("/consent", consent.consent, methods=["GET", "POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/token", with_cors(token.token, methods="POST"), methods=["POST", "OPTIONS"]),
        Route("/revoke", with_cors(token_management.revoke, methods="POST"), methods=["POST", "OPTIONS"]),
        Route("/introspect", token_management.introspect, methods=["POST"]),
        Route("/par", with_cors(par.par, methods="POST"), methods=["POST", "OPTIONS"]),
        Route("/jwks.json", with_cors(discovery.jwks, methods="GET"), methods=["GET", "OPTIONS"]),
        Route("/theme.css", theme.theme_css, methods=["GET"]),
        Route("/userinfo", with_cors(openid.userinfo, methods="GET, POST"), methods=["GET", "POST", "OPTIONS"]),
        Route("/end_session", openid.end_session, methods=["GET", "POST"]),
    ]


def _routes() -> list[BaseRoute]:
    well_known = "/.well-known/oauth-authorization-server"
    metadata = with_cors(discovery.metadata, methods="GET")
    openid_well_known = "/.well-known/openid-configuration"
    return [
        Route(well_known, metadata, methods=["GET", "OPTIONS"]),
        # RFC 8414 §3.1: the well-known segment goes between host and the issuer's path.
        Route(well_known + "/t/{tenant}", metadata, methods=["GET", "OPTIONS"]),
        Route("/t/{tenant}" + well_known, metadata, methods=["GET", "OPTIONS"]),
        # OpenID Connect Discovery §4: the issuer followed by the well-known path (and RFC 8414's form, for tenants).
        Route(openid_well_known, metadata, methods=["GET", "OPTIONS"]),
        Route("/t/{tenant}" + openid_well_known, metadata, methods=["GET", "OPTIONS"]),
        Route(openid_well_known + "/t/{tenant}", metadata, methods=["GET", "OPTIONS"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/favicon.ico", site.favicon, methods=["GET"]),
        Route("/metrics", metrics_endpoint.metrics, methods=["GET"]),
        Route("/admin", admin.dashboard, methods=["GET"]),
        Route("/admin/callback", admin.admin_callback, methods=["GET"]),
        Route("/admin/charts/{name}.svg", admin.admin_chart, methods=["GET"]),
        Route("/admin/logout", admin.admin_logout, methods=["POST"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        *admin_api.admin_api_routes(),  # JSON admin API, default tenant only (pixie:admin tokens of that tenant)
        Mount("/static", app=StaticFiles(directory=Path(__file__).with_name("static")), name="static"),
        Mount("/t/{tenant}", routes=tenant_routes()),
        *tenant_routes(),
    ]


def settings_from_env(
    *,
    database_url: str | None = None,
    issuer: str | None = None,
    secret_file: str | None = None,
    insecure_allow_http: bool = False,
) -> Settings:
    """:meth:`Settings.from_env`, with the master key's default place: beside a SQLite database's file."""
    return Settings.from_env(
        database_url=database_url,
        issuer=issuer,
        secret_file=secret_file,
        insecure_allow_http=insecure_allow_http,
        database_file=sqlite_file,
    )


@asynccontextmanager
async def open_backend(settings: Settings, *, serving: bool = False) -> AsyncIterator[tuple[Storage, KeyRing]]:
    """Open and migrate the database, check the master key against it (:func:`check_master_key`) and make sure the
    default tenant and its keys exist; close on exit. Shared by the server's lifespan (``serving``: the dashboard's
    client then follows this server's issuer) and every CLI command."""
    try:
        normalize_url(settings.database_url)
    except ValueError as exc:  # a URL of another kind: the user's to fix, not a fault
        raise ConfigError(str(exc)) from None
    async with contextlib.AsyncExitStack() as stack:
        try:
            # SQLite files get the sqlite3 driver, PostgreSQL the asyncpg one (see pixie.storage.schema).
            storage = await stack.enter_async_context(open_storage(settings.database_url))
        except StorageUnavailable as exc:
            # Shown as the user wrote it (the engine's form names the async driver), the password masked.
            reason = describe(exc.__cause__) if exc.__cause__ is not None else str(exc)
            raise StorageUnavailable(
                f"cannot use the database at {masked_url(settings.database_url)}: {reason}"
            ) from exc.__cause__
        keyring = KeyRing(storage.keys, settings.master_key)
        await check_master_key(settings, keyring)
        await ensure_default_tenant(storage, keyring)
        await keyring.check_signer(DEFAULT_TENANT, str(settings.master_key_source))
        await ensure_admin_client(storage, settings.issuer, follow_issuer=serving)
        yield storage, keyring


async def check_master_key(settings: Settings, keyring: KeyRing) -> None:
    """Stop before anything is served or stored when the master key is not the one that sealed the database's keys
    (:class:`~pixie.config.MasterKeyMismatch`, one line naming where the key came from and both fingerprints).

    A key file that does not exist yet is written here, and only for a database that holds no sealed keys: a new
    key could never open them, and writing one would hide the key that can.
    """
    source = settings.master_key_source
    if source.pending and source.path is not None:
        sealed_by = await keyring.sealed_by()
        if sealed_by:
            raise MasterKeyMismatch(
                f"no master key file at {source.path}, but this database's signing keys are sealed (by"
                f" {describe_fingerprints(sealed_by)}): restore that key file, or set {MASTER_KEY_ENV} to its key"
            )
        try:
            write_key_file(source.path, settings.master_key)
        except FileExistsError:
            raise MasterKeyMismatch(
                f"{source.path} was created by another process while this one started: run the command again"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot write the master key file {source.path}: {exc.strerror or exc}") from None
        log.warning(
            "%s is not set: generated a master key into %s (mode 0600); keep it safe, it opens this database's"
            " signing keys",
            MASTER_KEY_ENV,
            source.path,
        )
    try:
        await keyring.check_master_key(str(source))
    except MasterKeyMismatch as exc:
        raise MasterKeyMismatch(f"{exc}{rotation_hint(source, await keyring.sealed_by())}") from None


def rotation_hint(source: MasterKeySource, sealed_by: Collection[str | None]) -> str:
    """What to add to a mismatch when ``pixie secret rotate`` was interrupted: its new key waits beside the old."""
    if source.path is None:
        return ""
    staged = staged_key_file(source.path)
    try:
        key = read_key_file(staged)
    except ConfigError:
        return ""
    if key is None or key_fingerprint(key) not in sealed_by:
        return ""
    return f"; {staged} holds that key: `pixie secret rotate` was interrupted, run it again to finish"


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
            # The composition root picks the hot-path cache here: every token request looks its client up.
            storage = dataclasses.replace(stored, clients=CachedClientStore(stored.clients))
            audit = AuditLog(live.audit_log) if live.audit_log else None
            tenants = TenantResolver(storage.tenants)
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

    app = Starlette(
        middleware=[
            Middleware(Edge, metrics=metrics),
        ],
    )
    # Starlette answers "/authorize/" (or "/t/x") with a 307 to the same path +/- a slash on the origin named by the
    # Host header, query included: a redirect Pixie did not choose. Every endpoint has one exact path; 404 instead.
    app.router = IndexedRouter(_routes(), redirect_slashes=False, lifespan=lifespan)
    return app


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
