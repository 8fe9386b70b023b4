"""One real Pixie server for the tenancy package, on loopback, on a fresh SQLite file, serving three tenants side by
side in one process.

=========  ==================================================================================================
tenant     holds
=========  ==================================================================================================
default    ``root`` (role admin), ``carol`` (no role); ``automation`` (confidential, client_credentials,
           scope pixie:admin), ``reader`` (confidential, client_credentials, properties:read only)
acme       ``alice``; public ``app`` → SPA_CB; confidential ``rs`` (acme's secret); ``automation`` with
           pixie:admin under its own secret (a foreign admin token); title "Welcome to Acme", colour #0f766e
globex     ``bob``; public ``app`` → GLOBEX_CB (same client id, another redirect URI); confidential ``rs``
           (globex's secret); title "Globex sign-in", colour #f59e0b
=========  ==================================================================================================

Each tenant's ``app`` has the audience ``rs``: its tokens are meant for that tenant's resource server ``rs``, which
may therefore introspect them (RFC 7662 §4).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import (
    create_tenant,
    create_user,
    ensure_default_tenant,
    register_client,
    update_tenant_settings,
)
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from tenancy.support import (
    ACME_ADMIN_SECRET,
    ADMIN_SECRET,
    PASSWORDS,
    READER_SECRET,
    REDIRECTS,
    RS_SECRETS,
    THEMES,
    USERS,
    AdminApi,
    Server,
    client_credentials,
)

MASTER_KEY = b"tenancy-suite-master-key-32bytes"
SCOPES = ["properties:read", "tenants:read"]


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        keyring = KeyRing(storage.keys, MASTER_KEY)
        await ensure_default_tenant(storage, keyring)
        await create_user(storage, "default", "root", PASSWORDS["root"], roles=["admin"])
        await create_user(storage, "default", "carol", PASSWORDS["carol"])
        for client_id, secret, scope in (
            ("automation", ADMIN_SECRET, "pixie:admin"),
            ("reader", READER_SECRET, "properties:read"),
        ):
            await register_client(
                storage,
                "default",
                client_id,
                redirect_uris=[],
                public=False,
                secret=secret,
                scopes=[scope],
                grant_types=["client_credentials"],
            )
        for name, (title, color) in THEMES.items():
            await create_tenant(storage, keyring, name, display_name=name.capitalize(), settings=None)
            await update_tenant_settings(storage, name, {"login_title": title, "brand_color": color})
            await register_client(
                storage, name, "app", redirect_uris=[REDIRECTS[name]], public=True, scopes=SCOPES, audiences=["rs"]
            )
            await register_client(
                storage,
                name,
                "rs",
                redirect_uris=[],
                public=False,
                secret=RS_SECRETS[name],
                scopes=SCOPES,
                grant_types=["client_credentials"],
            )
            await create_user(storage, name, USERS[name], PASSWORDS[USERS[name]])
        await register_client(
            storage,
            "acme",
            "automation",
            redirect_uris=[],
            public=False,
            secret=ACME_ADMIN_SECRET,
            scopes=["pixie:admin"],
            grant_types=["client_credentials"],
        )


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server under test (see the module docstring)."""
    db_path = tmp_path_factory.mktemp("tenancy") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        housekeeping_interval=0,
    )
    with serve_pixie(settings) as base:
        yield Server(origin=base, db_path=db_path)


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """A back-channel client at the server's origin (no cookies kept between tests)."""
    with server.client() as client:
        yield client


@pytest.fixture(scope="package")
def admin_token(server: Server) -> str:
    """A pixie:admin token of the default tenant, from the ``automation`` client (client_credentials)."""
    with server.client() as http:
        return client_credentials(http, "/token", "automation", ADMIN_SECRET)


@pytest.fixture
def admin(http: httpx.Client, admin_token: str) -> AdminApi:
    return AdminApi(http, admin_token)
