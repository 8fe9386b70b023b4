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
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
import uvicorn

from pixie.client import OAuthClient, TokenSet
from pixie.config import Settings
from pixie.management import create_user, register_client, update_tenant_settings
from pixie.protected_resources import create_resource
from pixie.security import constant_time_equals
from pixie.server.app import create_app
from pixie.server.context import AppContext
from pixie.tenancy import DEFAULT_TENANT

__all__ = ["PixieTestServer", "RegisteredClient", "RegisteredUser"]

T = TypeVar("T")

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


@dataclass(frozen=True)
class RegisteredUser:
    """A user of the test server: ``subject`` is the ``sub`` claim of their tokens."""

    username: str
    subject: str
    password: str = field(repr=False)


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

    A default public client (``pixie-testing-app``, audience :attr:`issuer`) is there from the start and is granted
    whatever scope it is asked for, so ``token_for("alice", scope=...)`` works without registering a client. Clients
    you register get exactly the scopes you give them (asking for others is ``invalid_scope``, as in production).
    """

    def __init__(self) -> None:
        self._directory: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._app: Any = None
        self._clients: dict[str, RegisteredClient] = {}
        self._settings: dict[str, tuple[object, ...]] = {}  # what add_client was given, per client id
        self._users: dict[str, RegisteredUser] = {}
        self._resources: dict[str, tuple[tuple[str, ...], str, int | None]] = {}
        self.issuer = ""

    # -- life cycle ---------------------------------------------------------------------------------------------

    def start(self) -> PixieTestServer:
        """Create the database, start the server and wait until it answers."""
        if self._server is not None:
            raise RuntimeError("this PixieTestServer is already running")
        self._directory = Path(tempfile.mkdtemp(prefix="pixie-testing-"))
        port = _free_port()
        self.issuer = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=f"sqlite:///{self._directory / 'pixie.db'}",
            issuer=self.issuer,
            master_key=secrets.token_bytes(32),
            audit_log=None,
        )
        self._app = create_app(settings)
        config = uvicorn.Config(self._app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
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
        own = self._register(DEFAULT_CLIENT_ID, [DEFAULT_REDIRECT_URI], (), (), public=True)
        self._clients[DEFAULT_CLIENT_ID] = own
        return self

    def _serve(self) -> None:
        assert self._loop is not None and self._server is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.serve())
        finally:
            self._loop.close()

    def stop(self) -> None:
        """Stop the server and delete its database. Idempotent."""
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

    # -- registration -------------------------------------------------------------------------------------------

    def _register(
        self,
        client_id: str,
        redirect_uris: Sequence[str],
        scopes: Sequence[str],
        audiences: Sequence[str],
        *,
        public: bool,
        grant_types: Sequence[str] = ("authorization_code", "refresh_token"),
    ) -> RegisteredClient:
        new = self._call(
            register_client(
                self._context.storage,
                DEFAULT_TENANT,
                client_id,
                redirect_uris=redirect_uris,
                public=public,
                scopes=scopes,
                audiences=audiences,
                grant_types=grant_types,
            )
        )
        return RegisteredClient(
            client_id=client_id,
            redirect_uri=redirect_uris[0] if redirect_uris else "",
            scopes=new.client.scopes,
            audiences=new.client.audiences,
            secret=new.secret,
        )

    def add_client(
        self,
        client_id: str,
        *,
        scope: str | Sequence[str] = (),
        audience: str | Sequence[str] = (),
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        confidential: bool = False,
        client_credentials: bool = False,
    ) -> RegisteredClient:
        """Register a client that may ask for exactly ``scope`` (space-separated or a list) and whose tokens carry
        ``audience`` as ``aud`` (empty: the issuer). Public unless ``confidential`` (then a secret is generated:
        ``.secret``); ``client_credentials`` adds that grant (confidential clients only). Registering the same id
        again with the same settings returns the client already made (tests sharing one server may each ask);
        with other settings it is an error.

        Spec: RFC 6749 §2, RFC 8707 (audience), RFC 9068 §2.2 (``aud``).
        """
        wanted = (redirect_uri, _scopes(scope), _scopes(audience), confidential, client_credentials)
        existing = self._clients.get(client_id)
        if existing is not None:
            if client_id in _OWN_CLIENTS or self._settings.get(client_id) != wanted:
                raise ValueError(f"client {client_id!r} is already registered on this test server, differently")
            return existing
        grants = ["authorization_code", "refresh_token"] + (["client_credentials"] if client_credentials else [])
        registered = self._register(
            client_id,
            [redirect_uri],
            _scopes(scope),
            _scopes(audience),
            public=not confidential,
            grant_types=grants,
        )
        self._clients[client_id] = registered
        self._settings[client_id] = wanted
        return registered

    def add_resource(
        self,
        identifier: str,
        *,
        scope: str | Sequence[str] = (),
        name: str = "",
        access_token_ttl: int | None = None,
    ) -> str:
        """Register a protected resource (your API's identifier, an absolute URI) that accepts ``scope`` (empty:
        any scope of the client); :meth:`token_for` with ``resource=`` then gets a token whose ``aud`` is exactly
        it. Registering it again with the same settings is a no-op, with others an error.

        Spec: RFC 8707 §2 (resource identifiers), RFC 9068 §2.2 (``aud``).
        """
        wanted = (_scopes(scope), name, access_token_ttl)
        existing = self._resources.get(identifier)
        if existing is not None:
            if existing != wanted:
                raise ValueError(f"resource {identifier!r} is already registered on this test server, differently")
            return identifier
        self._call(
            create_resource(
                self._context.storage,
                DEFAULT_TENANT,
                identifier,
                name=name,
                scopes=_scopes(scope),
                access_token_ttl=access_token_ttl,
            )
        )
        self._resources[identifier] = wanted
        return identifier

    def add_user(self, username: str, password: str | None = None, *, roles: Sequence[str] = ()) -> RegisteredUser:
        """Create a user (a random password unless given: ``.password``). Adding the same username again returns
        the user already made, so tests sharing one server can each say which users they need."""
        existing = self._users.get(username)
        if existing is not None:
            if password is not None and not constant_time_equals(password, existing.password):
                raise ValueError(f"user {username!r} already exists with another password")
            return existing
        chosen = password if password is not None else secrets.token_urlsafe(18)
        user = self._call(create_user(self._context.storage, DEFAULT_TENANT, username, chosen, roles=roles))
        registered = RegisteredUser(username=username, subject=user.user_id, password=chosen)
        self._users[username] = registered
        return registered

    def _user(self, username: str) -> RegisteredUser:
        try:
            return self._users[username]
        except KeyError:
            raise LookupError(f"no user {username!r} on this test server (add_user creates one)") from None

    def client(self, client_id: str = DEFAULT_CLIENT_ID) -> RegisteredClient:
        """A client registered on this server, by id."""
        try:
            return self._clients[client_id]
        except KeyError:
            raise LookupError(f"no client {client_id!r} on this test server (add_client registers one)") from None

    # -- tokens -------------------------------------------------------------------------------------------------

    def _resolve(self, client: RegisteredClient | str | None, scopes: Sequence[str]) -> RegisteredClient:
        """The client to use; the server's own clients are first granted any of ``scopes`` they lack."""
        chosen = client if isinstance(client, RegisteredClient) else self.client(client or DEFAULT_CLIENT_ID)
        missing = [s for s in scopes if s not in chosen.scopes]
        if chosen.client_id not in _OWN_CLIENTS or not missing:
            return chosen
        storage = self._context.storage

        async def grant() -> None:
            stored = await storage.clients.get(DEFAULT_TENANT, chosen.client_id)
            assert stored is not None
            await storage.clients.update(dataclasses.replace(stored, scopes=(*stored.scopes, *missing)))

        self._call(grant())
        widened = dataclasses.replace(chosen, scopes=(*chosen.scopes, *missing))
        self._clients[chosen.client_id] = widened
        return widened

    def token_for(
        self,
        username: str,
        *,
        client: RegisteredClient | str | None = None,
        scope: str | Sequence[str] = (),
        resource: str | Sequence[str] = (),
    ) -> TokenSet:
        """Sign ``username`` in through ``client`` (default: the server's own test client) and return the token
        response: the authorization-code flow with PKCE, exactly as a browser would run it — ``/authorize``, the
        login form with its CSRF token, the consent page, the redirect, then ``/token``. ``resource`` (registered
        with :meth:`add_resource`) asks for a token for that API: its ``aud``.

        Spec: RFC 6749 §4.1, RFC 7636, RFC 9207, RFC 8707 §2.1.
        """
        chosen = self._resolve(client, _scopes(scope))
        user = self._user(username)
        requested = " ".join(_scopes(scope)) or None
        with httpx.Client(timeout=30) as http:  # a fresh cookie jar: every call signs in anew
            oauth = OAuthClient(self.issuer, chosen.client_id, chosen.secret, http=http)
            resources = [resource] if isinstance(resource, str) else list(resource)
            extra = [("resource", identifier) for identifier in resources]
            start = oauth.start_authorization(chosen.redirect_uri, requested, extra_params=extra)
            callback = self._sign_in(http, start.url, user, chosen.redirect_uri)
            return oauth.complete_authorization(start.transaction, callback)

    def update_settings(self, **changes: object) -> None:
        """Change the default tenant's settings, checked as ``pixie tenants settings`` checks them, and applied at
        once: for instance ``update_settings(registration="open", registration_scopes=["notes:read"])`` lets
        clients register themselves (RFC 7591), as an MCP client does."""
        self._call(update_tenant_settings(self._context.storage, DEFAULT_TENANT, changes))
        self._context.tenants.invalidate(DEFAULT_TENANT)

    def sign_in(self, username: str, authorize_url: str, redirect_uri: str) -> str:
        """Play ``username`` in a browser sent to ``authorize_url`` by some other client (a third-party library
        under test): sign in, approve consent, and return the URL Pixie redirected back to (code, state, iss)."""
        with httpx.Client(timeout=30) as http:
            return self._sign_in(http, authorize_url, self._user(username), redirect_uri)

    def _sign_in(self, http: httpx.Client, authorize_url: str, user: RegisteredUser, redirect_uri: str) -> str:
        """Follow the interaction pages from ``authorize_url`` to the redirect to the client; return its URL."""
        response = http.get(authorize_url)
        for _ in range(6):
            if response.status_code not in (302, 303):
                raise AssertionError(
                    f"the Pixie test server answered {response.status_code} during sign-in: {_excerpt(response)}"
                )
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.issuer + "/"):
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
            tenant = await context.storage.tenants.get(DEFAULT_TENANT)
            stored = await context.storage.clients.get(DEFAULT_TENANT, client.client_id)
            assert tenant is not None and stored is not None
            token = await context.tokens.access_token(
                tenant=tenant, issuer=self.issuer, client=stored, subject=user.subject, scopes=scopes, now=now
            )
            return token.token

        return self._call(issue())

    def expired_token(
        self, username: str, *, client: RegisteredClient | str | None = None, scope: str | Sequence[str] = ()
    ) -> str:
        """An access token like :meth:`token_for`'s — signed by the server's active key, for the same audience — that
        expired an hour ago. Spec: RFC 9068 §4 (``exp``)."""
        chosen = self._resolve(client, _scopes(scope))
        user = self._user(username)
        return self._issue(user, chosen, _scopes(scope) or chosen.scopes, time.time() - 2 * 3600)

    def revoked_token(
        self, username: str, *, client: RegisteredClient | str | None = None, scope: str | Sequence[str] = ()
    ) -> str:
        """An access token from :meth:`token_for`, then revoked at ``/revoke``. An API that introspects
        (``IntrospectionVerifier``) refuses it; one that checks JWTs locally accepts it until it expires.

        Spec: RFC 7009 §2.1, RFC 7662 §2.2.
        """
        chosen = self._resolve(client, _scopes(scope))
        tokens = self.token_for(username, client=chosen, scope=scope)
        data = {"token": tokens.access_token, "token_type_hint": "access_token"}
        auth: tuple[str, str] | None = None
        if chosen.secret is None:
            data["client_id"] = chosen.client_id
        else:
            auth = (chosen.client_id, chosen.secret)
        response = httpx.post(f"{self.issuer}/revoke", data=data, auth=auth, timeout=30)
        if response.status_code != 200:
            raise AssertionError(f"/revoke answered {response.status_code}: {_excerpt(response)}")
        return tokens.access_token

    def wrong_audience_token(self, username: str, *, scope: str | Sequence[str] = ()) -> str:
        """A valid access token for ``username`` whose ``aud`` is another API's (``urn:pixie:testing:another-
        audience``): an API must refuse it. Spec: RFC 8707 §2, RFC 9068 §4 (``aud``)."""
        client_id = OTHER_AUDIENCE_CLIENT_ID
        if client_id not in self._clients:
            other = self._register(client_id, [DEFAULT_REDIRECT_URI], (), [OTHER_AUDIENCE], public=True)
            self._clients[client_id] = other
        return self.token_for(username, client=client_id, scope=scope).access_token


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
