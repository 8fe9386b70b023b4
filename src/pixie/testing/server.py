"""A real Pixie authorization server for an application's test suite: :class:`PixieTestServer`.

It is the server ``pixie serve`` runs — the same app, storage driver, signing keys and pages — on a free loopback
port, with a temporary SQLite database and master key, served by uvicorn on an event loop of its own in a background
thread. Tests register clients and users through the same management functions the CLI uses, and get tokens the way
an app does: :meth:`PixieTestServer.token_for` drives ``/authorize``, the login form (with its CSRF token), the
consent page and ``/token`` over HTTP with PKCE, through :class:`pixie.client.OAuthClient`; nothing is mocked and
no browser is needed.

Negative cases come from the same server: :meth:`~PixieTestServer.expired_token` (signed by the tenant's real key
with a clock an hour behind), :meth:`~PixieTestServer.revoked_token` (revoked at ``/revoke``: introspection says
inactive; a local JWT check cannot know until it expires, RFC 7009 §2) and
:meth:`~PixieTestServer.wrong_audience_token` (issued for another audience, RFC 8707).

Everything a deployment can be is there too: tenants (:meth:`~PixieTestServer.add_tenant`, each its own issuer
under ``/t/NAME``), machine clients and their tokens (:meth:`~PixieTestServer.client_credentials_token`), any
:class:`pixie.config.Settings` (``PixieTestServer(rate_limits=...)``, or a whole ``Settings`` for a database you
seeded yourself, PostgreSQL included). Pixie's own test suite starts every authorization server it runs this way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
import uvicorn

from pixie.client import OAuthClient, TokenSet
from pixie.config import Settings
from pixie.management import create_tenant, create_user, register_client, update_tenant_settings
from pixie.protected_resources import create_resource
from pixie.security import constant_time_equals
from pixie.server.app import create_app
from pixie.server.context import AppContext
from pixie.server.uvicorn_options import uvicorn_options
from pixie.storage.records import TenantSettings
from pixie.tenancy import DEFAULT_TENANT, change_settings, issuer_for

__all__ = ["PixieTestServer", "RegisteredClient", "RegisteredUser"]

T = TypeVar("T")
App = Callable[..., Any]
"""An ASGI application (typed loosely: Starlette's and uvicorn's ASGI types differ)."""

DEFAULT_CLIENT_ID = "pixie-testing-app"
DEFAULT_REDIRECT_URI = "http://127.0.0.1/callback"  # loopback: any port matches (RFC 8252 §7.3)
OTHER_AUDIENCE = "urn:pixie:testing:another-audience"
OTHER_AUDIENCE_CLIENT_ID = "pixie-testing-other-audience"
_OWN_CLIENTS = frozenset({DEFAULT_CLIENT_ID, OTHER_AUDIENCE_CLIENT_ID})


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered on the test server. ``secret`` is None for a public client."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    secret: str | None = field(default=None, repr=False)
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class RegisteredUser:
    """A user of the test server: ``subject`` is the ``sub`` claim of their tokens."""

    username: str
    subject: str
    password: str = field(repr=False)
    tenant: str = DEFAULT_TENANT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _scopes(scope: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(scope.split()) if isinstance(scope, str) else tuple(scope)


class PixieTestServer:
    """A running authorization server on ``http://127.0.0.1:<free port>`` (:attr:`issuer`).

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with PixieTestServer() as pixie:
            client = pixie.add_client("my-app", scope="items:read", audience="https://api.example")
            pixie.add_user("alice")
            tokens = pixie.token_for("alice", client=client, scope="items:read")

    A default public client (``pixie-testing-app``, audience :attr:`issuer`) is registered the first time a token is
    asked for without naming a client, and is granted whatever scope it is asked for, so ``token_for("alice",
    scope=...)`` works without registering a client. Clients you register get exactly the scopes you give them
    (asking for others is ``invalid_scope``, as in production).

    Without ``settings`` the server gets a temporary SQLite database (deleted by :meth:`stop`), a random master key and
    an issuer on a free port; keyword arguments change any other :class:`~pixie.config.Settings` field, for instance
    ``PixieTestServer(rate_limits=RateLimits(login_failures_per_user="3/minute"))``. With ``settings`` (a database you
    seeded, PostgreSQL or SQLite) it serves exactly those, on the port of their issuer, which must then be a loopback
    URL; their database is left as it was. ``port`` listens elsewhere: a second instance of the same issuer (as
    behind a load balancer) listens on a port of its own. ``wrap`` wraps the app in middleware of yours (it sees
    every request). uvicorn runs as ``pixie serve`` runs it: bounded request heads, and ``X-Forwarded-For`` believed
    only from ``settings.forwarded_allow_ips``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        port: int | None = None,
        wrap: Callable[[App], App] | None = None,
        **changes: Any,
    ) -> None:
        if settings is not None:
            if changes:
                settings = dataclasses.replace(settings, **changes)
            if port is None:
                _loopback_port(settings.issuer)  # refuse an issuer this server cannot listen at, before starting
        elif "issuer" in changes:
            _loopback_port(str(changes["issuer"]))
        self._given = settings
        self._port = port
        self._changes = changes
        self._wrap = wrap
        self._directory: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._app: Any = None
        self._clients: dict[tuple[str, str], RegisteredClient] = {}
        self._wanted: dict[tuple[str, str], tuple[object, ...]] = {}  # what add_client was given, per client
        self._users: dict[tuple[str, str], RegisteredUser] = {}
        self._resources: dict[tuple[str, str], tuple[tuple[str, ...], str, int | None]] = {}
        self._tenants: dict[str, tuple[str | None, dict[str, Any]]] = {}
        self.settings: Settings | None = settings
        """The settings the server runs with (known once started, when they were not given)."""
        self.issuer = ""
        """The default tenant's issuer; other tenants' are :meth:`issuer_of`."""
        self.base_url = ""
        """Where the server listens: ``http://127.0.0.1:<port>`` (the issuer too, unless ``settings`` said https)."""

    # -- life cycle ---------------------------------------------------------------------------------------------

    def start(self) -> PixieTestServer:
        """Create the database (unless given), start the server and wait until it answers."""
        if self._server is not None:
            raise RuntimeError("this PixieTestServer is already running")
        settings = self._given
        if settings is None:
            self._directory = Path(tempfile.mkdtemp(prefix="pixie-testing-"))
            fresh = {
                "database_url": f"sqlite:///{self._directory / 'pixie.db'}",
                "issuer": f"http://127.0.0.1:{self._port or _free_port()}",
                "master_key": secrets.token_bytes(32),
                "audit_log": None,
            }
            settings = Settings(**{**fresh, **self._changes})
        port = self._port or _loopback_port(settings.issuer)
        self.settings = settings
        self.issuer = settings.issuer
        self.base_url = f"http://127.0.0.1:{port}"
        app = create_app(settings)
        self._app = app
        served = app if self._wrap is None else self._wrap(app)
        config = uvicorn.Config(
            served, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **uvicorn_options(settings)
        )
        self._server = uvicorn.Server(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="pixie-testing-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Pixie test server did not start")
            time.sleep(0.02)
        return self

    def _serve(self) -> None:
        assert self._loop is not None and self._server is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.serve())
        finally:
            self._loop.close()

    def stop(self) -> None:
        """Stop the server and delete the database it made (never one it was given). Idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = self._thread = self._loop = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> PixieTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's own event loop (where its storage lives) and wait for the result."""
        if self._loop is None or self._server is None or not self._server.started:
            coro.close()
            raise RuntimeError("the Pixie test server is not running (use it as a context manager, or start())")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=60)

    @property
    def _context(self) -> AppContext:
        context: AppContext = self._app.state.pixie
        return context

    @property
    def app(self) -> Any:
        """The Starlette app being served (``app.state.pixie`` is its :class:`~pixie.server.context.AppContext`)."""
        return self._app

    @property
    def database_url(self) -> str:
        """The database the server uses (a temporary SQLite file unless ``settings`` named one)."""
        if self.settings is None:
            raise RuntimeError("the Pixie test server has not started: its database is not made yet")
        return self.settings.database_url

    # -- tenants ------------------------------------------------------------------------------------------------

    def add_tenant(self, name: str, *, display_name: str | None = None, **settings: Any) -> str:
        """Create a tenant (its own keys, clients and users) with ``settings`` changed from the defaults (any
        ``pixie tenants settings`` name: ``access_token_ttl=60``, ``registration="open"``…), and return its issuer:
        ``<issuer>/t/<name>``. Adding it again with the same arguments returns the issuer; with others it is an
        error. Register its clients and users with ``tenant=name``."""
        wanted = (display_name, settings)
        existing = self._tenants.get(name)
        if existing is not None:
            if existing != wanted:
                raise ValueError(f"tenant {name!r} is already on this test server, differently")
            return self.issuer_of(name)
        context = self._context
        chosen = change_settings(TenantSettings(), settings) if settings else None
        self._call(create_tenant(context.storage, context.keyring, name, display_name=display_name, settings=chosen))
        self._tenants[name] = wanted
        return self.issuer_of(name)

    def issuer_of(self, tenant: str = DEFAULT_TENANT) -> str:
        """A tenant's issuer (``iss`` of its tokens; its endpoints are under it)."""
        return issuer_for(self.issuer, tenant)

    # -- registration -------------------------------------------------------------------------------------------

    def _register(
        self,
        tenant: str,
        client_id: str,
        redirect_uris: Sequence[str],
        scopes: Sequence[str],
        audiences: Sequence[str],
        *,
        public: bool,
        grant_types: Sequence[str] = ("authorization_code", "refresh_token"),
        **options: Any,
    ) -> RegisteredClient:
        new = self._call(
            register_client(
                self._context.storage,
                tenant,
                client_id,
                redirect_uris=redirect_uris,
                public=public,
                scopes=scopes,
                audiences=audiences,
                grant_types=grant_types,
                **options,
            )
        )
        registered = RegisteredClient(
            client_id=client_id,
            redirect_uri=redirect_uris[0] if redirect_uris else "",
            scopes=new.client.scopes,
            audiences=new.client.audiences,
            secret=new.secret,
            tenant=tenant,
        )
        self._clients[(tenant, client_id)] = registered
        return registered

    def add_client(
        self,
        client_id: str,
        *,
        scope: str | Sequence[str] = (),
        audience: str | Sequence[str] = (),
        redirect_uri: str | Sequence[str] = DEFAULT_REDIRECT_URI,
        confidential: bool = False,
        client_credentials: bool = False,
        grant_types: Sequence[str] | None = None,
        secret: str | None = None,
        tenant: str = DEFAULT_TENANT,
        **options: Any,
    ) -> RegisteredClient:
        """Register a client that may ask for exactly ``scope`` (space-separated or a list) and whose tokens carry
        ``audience`` as ``aud`` (empty: the issuer). Public unless ``confidential`` (then it gets ``secret``, or a
        generated one: ``.secret``). Grants are the code flow and refresh; ``client_credentials`` adds that grant
        (confidential clients only), and ``grant_types`` names them outright (``["client_credentials"]`` for a
        machine client, which then needs no redirect URI). Any other option of ``pixie clients create`` goes by its
        Python name (``access_token_ttl=60``, ``dpop_bound_access_tokens=True``, ``name="Reports"``…).

        Registering the same id again with the same arguments returns the client already made (tests sharing one
        server may each ask); with other arguments it is an error.

        Spec: RFC 6749 §2, RFC 8707 (audience), RFC 9068 §2.2 (``aud``).
        """
        uris = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
        wanted = (
            uris,
            _scopes(scope),
            _scopes(audience),
            confidential,
            client_credentials,
            grant_types,
            secret,
            options,
        )
        key = (tenant, client_id)
        existing = self._clients.get(key)
        if existing is not None:
            if client_id in _OWN_CLIENTS or self._wanted.get(key) != wanted:
                raise ValueError(f"client {client_id!r} is already registered on this test server, differently")
            return existing
        if grant_types is None:
            grants = ["authorization_code", "refresh_token"] + (["client_credentials"] if client_credentials else [])
        else:
            grants = list(grant_types)
        registered = self._register(
            tenant,
            client_id,
            uris if "authorization_code" in grants else [],
            _scopes(scope),
            _scopes(audience),
            public=not confidential,
            grant_types=grants,
            secret=secret,
            **options,
        )
        self._wanted[key] = wanted
        return registered

    def add_resource(
        self,
        identifier: str,
        *,
        scope: str | Sequence[str] = (),
        name: str = "",
        access_token_ttl: int | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> str:
        """Register a protected resource (your API's identifier, an absolute URI) that accepts ``scope`` (empty:
        any scope of the client); :meth:`token_for` with ``resource=`` then gets a token whose ``aud`` is exactly
        it. Registering it again with the same settings is a no-op, with others an error.

        Spec: RFC 8707 §2 (resource identifiers), RFC 9068 §2.2 (``aud``).
        """
        wanted = (_scopes(scope), name, access_token_ttl)
        existing = self._resources.get((tenant, identifier))
        if existing is not None:
            if existing != wanted:
                raise ValueError(f"resource {identifier!r} is already registered on this test server, differently")
            return identifier
        self._call(
            create_resource(
                self._context.storage,
                tenant,
                identifier,
                name=name,
                scopes=_scopes(scope),
                access_token_ttl=access_token_ttl,
            )
        )
        self._resources[(tenant, identifier)] = wanted
        return identifier

    def add_user(
        self,
        username: str,
        password: str | None = None,
        *,
        roles: Sequence[str] = (),
        tenant: str = DEFAULT_TENANT,
    ) -> RegisteredUser:
        """Create a user (a random password unless given: ``.password``). Adding the same username again returns
        the user already made, so tests sharing one server can each say which users they need."""
        existing = self._users.get((tenant, username))
        if existing is not None:
            if password is not None and not constant_time_equals(password, existing.password):
                raise ValueError(f"user {username!r} already exists with another password")
            return existing
        chosen = password if password is not None else secrets.token_urlsafe(18)
        user = self._call(create_user(self._context.storage, tenant, username, chosen, roles=roles))
        registered = RegisteredUser(username=username, subject=user.user_id, password=chosen, tenant=tenant)
        self._users[(tenant, username)] = registered
        return registered

    def _user(self, username: str, tenant: str) -> RegisteredUser:
        try:
            return self._users[(tenant, username)]
        except KeyError:
            where = "" if tenant == DEFAULT_TENANT else f" in tenant {tenant!r}"
            raise LookupError(f"no user {username!r}{where} on this test server (add_user creates one)") from None

    def client(self, client_id: str = DEFAULT_CLIENT_ID, *, tenant: str = DEFAULT_TENANT) -> RegisteredClient:
        """A client registered on this server, by id."""
        key = (tenant, client_id)
        if key not in self._clients and client_id == DEFAULT_CLIENT_ID:
            self._register(tenant, DEFAULT_CLIENT_ID, [DEFAULT_REDIRECT_URI], (), (), public=True)
        try:
            return self._clients[key]
        except KeyError:
            raise LookupError(f"no client {client_id!r} on this test server (add_client registers one)") from None

    # -- tokens -------------------------------------------------------------------------------------------------

    def _resolve(
        self, client: RegisteredClient | str | None, scopes: Sequence[str], tenant: str = DEFAULT_TENANT
    ) -> RegisteredClient:
        """The client to use; the server's own clients are first granted any of ``scopes`` they lack."""
        if isinstance(client, RegisteredClient):
            chosen = client
        else:
            chosen = self.client(client or DEFAULT_CLIENT_ID, tenant=tenant)
        missing = [s for s in scopes if s not in chosen.scopes]
        if chosen.client_id not in _OWN_CLIENTS or not missing:
            return chosen
        storage = self._context.storage

        async def grant() -> None:
            stored = await storage.clients.get(chosen.tenant, chosen.client_id)
            assert stored is not None
            await storage.clients.update(dataclasses.replace(stored, scopes=(*stored.scopes, *missing)))

        self._call(grant())
        widened = dataclasses.replace(chosen, scopes=(*chosen.scopes, *missing))
        self._clients[(chosen.tenant, chosen.client_id)] = widened
        return widened

    def token_for(
        self,
        username: str,
        *,
        client: RegisteredClient | str | None = None,
        scope: str | Sequence[str] = (),
        resource: str | Sequence[str] = (),
        tenant: str = DEFAULT_TENANT,
    ) -> TokenSet:
        """Sign ``username`` in through ``client`` (default: the server's own test client) and return the token
        response: the authorization-code flow with PKCE, exactly as a browser would run it — ``/authorize``, the
        login form with its CSRF token, the consent page, the redirect, then ``/token``. ``resource`` (registered
        with :meth:`add_resource`) asks for a token for that API: its ``aud``. ``tenant`` names the tenant of a
        client given by id (a :class:`RegisteredClient` knows its own).

        Spec: RFC 6749 §4.1, RFC 7636, RFC 9207, RFC 8707 §2.1.
        """
        chosen = self._resolve(client, _scopes(scope), tenant)
        user = self._user(username, chosen.tenant)
        requested = " ".join(_scopes(scope)) or None
        with httpx.Client(timeout=30) as http:  # a fresh cookie jar: every call signs in anew
            oauth = OAuthClient(self.issuer_of(chosen.tenant), chosen.client_id, chosen.secret, http=http)
            resources = [resource] if isinstance(resource, str) else list(resource)
            extra = [("resource", identifier) for identifier in resources]
            start = oauth.start_authorization(chosen.redirect_uri, requested, extra_params=extra)
            callback = self._sign_in(http, start.url, user, chosen.redirect_uri)
            return oauth.complete_authorization(start.transaction, callback)

    def client_credentials_token(
        self, client: RegisteredClient | str, *, scope: str | Sequence[str] = (), tenant: str = DEFAULT_TENANT
    ) -> TokenSet:
        """A token for a machine client (registered with ``confidential=True, client_credentials=True``) from
        ``/token``, authenticated with its secret. Spec: RFC 6749 §4.4."""
        chosen = client if isinstance(client, RegisteredClient) else self.client(client, tenant=tenant)
        if chosen.secret is None:
            raise ValueError(f"client {chosen.client_id!r} has no secret: register it with confidential=True")
        with OAuthClient(self.issuer_of(chosen.tenant), chosen.client_id, chosen.secret) as oauth:
            return oauth.client_credentials(" ".join(_scopes(scope)) or None)

    def update_settings(self, *, tenant: str = DEFAULT_TENANT, **changes: object) -> None:
        """Change a tenant's settings (the default tenant's unless ``tenant``), checked as ``pixie tenants
        settings`` checks them, and applied at once: for instance ``update_settings(registration="open",
        registration_scopes=["notes:read"])`` lets clients register themselves (RFC 7591), as an MCP client does."""
        self._call(update_tenant_settings(self._context.storage, tenant, changes))
        self._context.tenants.invalidate(tenant)

    def sign_in(
        self,
        username: str,
        authorize_url: str,
        redirect_uri: str,
        *,
        tenant: str = DEFAULT_TENANT,
        http: httpx.Client | None = None,
    ) -> str:
        """Play ``username`` in a browser sent to ``authorize_url`` by some other client (a third-party library
        under test): sign in, approve consent, and return the URL Pixie redirected back to (code, state, iss).
        With ``http`` (your client, whose cookie jar is the browser's) the SSO session stays in it, so a later
        authorization from that client comes straight back with a code, as for a returning user."""
        user = self._user(username, tenant)
        if http is not None:
            return self._sign_in(http, authorize_url, user, redirect_uri)
        with httpx.Client(timeout=30) as fresh:
            return self._sign_in(fresh, authorize_url, user, redirect_uri)

    def _sign_in(self, http: httpx.Client, authorize_url: str, user: RegisteredUser, redirect_uri: str) -> str:
        """Follow the interaction pages from ``authorize_url`` to the redirect to the client; return its URL."""
        response = http.get(authorize_url)
        for _ in range(6):
            if response.status_code not in (302, 303):
                raise AssertionError(
                    f"the Pixie test server answered {response.status_code} during sign-in: {_excerpt(response)}"
                )
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.base_url + "/"):
                target = urlsplit(redirect_uri)
                got = urlsplit(location)
                if (got.scheme, got.hostname, got.path) != (target.scheme, target.hostname, target.path):
                    raise AssertionError(f"sign-in was redirected to an unexpected place: {location}")
                return location
            page = http.get(location)
            path = urlsplit(location).path
            if page.status_code != 200:
                raise AssertionError(f"{path} answered {page.status_code}: {_excerpt(page)}")
            fields = _hidden_fields(page.text)
            if path.endswith("/login"):
                response = http.post(
                    location.split("?")[0],
                    data={**fields, "username": user.username, "password": user.password},
                )
            elif path.endswith("/consent"):
                response = http.post(location.split("?")[0], data={**fields, "decision": "approve"})
            else:
                raise AssertionError(f"sign-in reached an unexpected page: {location}")
        raise AssertionError("sign-in did not finish: too many steps")

    def _issue(self, user: RegisteredUser, client: RegisteredClient, scopes: Sequence[str], now: float) -> str:
        context = self._context

        async def issue() -> str:
            tenant = await context.storage.tenants.get(client.tenant)
            stored = await context.storage.clients.get(client.tenant, client.client_id)
            assert tenant is not None and stored is not None
            token = await context.tokens.access_token(
                tenant=tenant,
                issuer=self.issuer_of(client.tenant),
                client=stored,
                subject=user.subject,
                scopes=scopes,
                now=now,
            )
            return token.token

        return self._call(issue())

    def expired_token(
        self,
        username: str,
        *,
        client: RegisteredClient | str | None = None,
        scope: str | Sequence[str] = (),
        tenant: str = DEFAULT_TENANT,
    ) -> str:
        """An access token like :meth:`token_for`'s — signed by the server's active key, for the same audience — that
        expired an hour ago. Spec: RFC 9068 §4 (``exp``)."""
        chosen = self._resolve(client, _scopes(scope), tenant)
        user = self._user(username, chosen.tenant)
        return self._issue(user, chosen, _scopes(scope) or chosen.scopes, time.time() - 2 * 3600)

    def revoked_token(
        self,
        username: str,
        *,
        client: RegisteredClient | str | None = None,
        scope: str | Sequence[str] = (),
        tenant: str = DEFAULT_TENANT,
    ) -> str:
        """An access token from :meth:`token_for`, then revoked at ``/revoke``. An API that introspects
        (``IntrospectionVerifier``) refuses it; one that checks JWTs locally accepts it until it expires.

        Spec: RFC 7009 §2.1, RFC 7662 §2.2.
        """
        chosen = self._resolve(client, _scopes(scope), tenant)
        tokens = self.token_for(username, client=chosen, scope=scope)
        data = {"token": tokens.access_token, "token_type_hint": "access_token"}
        auth: tuple[str, str] | None = None
        if chosen.secret is None:
            data["client_id"] = chosen.client_id
        else:
            auth = (chosen.client_id, chosen.secret)
        revoke = f"{self.issuer_of(chosen.tenant)}/revoke"
        response = httpx.post(revoke, data=data, auth=auth, timeout=30)
        if response.status_code != 200:
            raise AssertionError(f"/revoke answered {response.status_code}: {_excerpt(response)}")
        return tokens.access_token

    def wrong_audience_token(
        self, username: str, *, scope: str | Sequence[str] = (), tenant: str = DEFAULT_TENANT
    ) -> str:
        """A valid access token for ``username`` whose ``aud`` is another API's (``urn:pixie:testing:another-
        audience``): an API must refuse it. Spec: RFC 8707 §2, RFC 9068 §4 (``aud``)."""
        key = (tenant, OTHER_AUDIENCE_CLIENT_ID)
        if key not in self._clients:
            self._register(tenant, OTHER_AUDIENCE_CLIENT_ID, [DEFAULT_REDIRECT_URI], (), [OTHER_AUDIENCE], public=True)
        return self.token_for(username, client=self._clients[key], scope=scope).access_token


def _loopback_port(issuer: str) -> int:
    """The port of an issuer this server can listen at: ``http(s)://127.0.0.1:<port>`` or ``localhost``."""
    parts = urlsplit(issuer)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        raise ValueError(
            f"a PixieTestServer listens on loopback: its issuer must be http://127.0.0.1:<port>, not {issuer}"
        )
    return parts.port


def _hidden_fields(html: str) -> dict[str, str]:
    from html.parser import HTMLParser

    fields: dict[str, str] = {}

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "input" and values.get("type") == "hidden" and values.get("name"):
                fields[str(values["name"])] = values.get("value") or ""

    Parser().feed(html)
    if "csrf_token" not in fields:
        raise AssertionError("the page has no form with a CSRF token")
    return fields


def _excerpt(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:300]
