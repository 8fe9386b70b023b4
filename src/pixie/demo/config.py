"""What the demo is made of: its client, audience, scopes, users and files — one place, read by ``pixie demo``
(seeding) and by the demo app (the SPA's configuration and the API's token checks)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pixie.storage.schema import sqlite_file

__all__ = [
    "API_AUDIENCE",
    "API_PATH",
    "APP_PATH",
    "CLIENT_ID",
    "CLIENT_NAME",
    "MANAGER_ROLE",
    "SCOPES",
    "SCOPE_ROLES",
    "TENANT_NAME",
    "USERS",
    "DemoUser",
    "api_resource",
    "demo_audit_log_path",
    "demo_database_path",
    "redirect_uri",
]

API_PATH = "/api"
APP_PATH = "/app"
CLIENT_ID = "pixie-demo-spa"
CLIENT_NAME = "Property Manager"
"""How the sign-in and consent pages name the demo app."""
TENANT_NAME = "Pixie Demo Properties"
"""How the sign-in pages name the demo's organisation (the default tenant's display name)."""
SCOPES = ("properties:read", "properties:write", "tenants:read")
MANAGER_ROLE = "property-manager"
SCOPE_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (("properties:write", (MANAGER_ROLE,)),)
"""The demo tenant's policy: only property managers may receive ``properties:write`` (see ``TenantSettings``)."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    roles: tuple[str, ...]
    access: str
    """What the user may do, in words printed at start-up."""
    given_name: str = ""
    family_name: str = ""
    email: str = ""

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


USERS = (
    DemoUser(
        "alice",
        "alice-demo-password",
        (MANAGER_ROLE,),
        "property manager: read and add properties",
        "Alice",
        "Smith",
        "alice@example.com",
    ),
    DemoUser("bob", "bob-demo-password", (), "read only: properties and tenants", "Bob", "Jones", "bob@example.com"),
    DemoUser(
        "admin",
        "admin-demo-password",
        ("admin",),
        "administrator: the /admin analytics dashboard",
        "Ada",
        "Admin",
        "admin@example.com",
    ),
)


API_AUDIENCE = "urn:pixie:demo:property-api"
"""The Property API's identifier: access tokens for it carry this ``aud`` (RFC 9068 §3). Not a URL on purpose: it
stays the same when the demo is started on another port, so a database seeded earlier keeps working."""


def api_resource(issuer: str) -> str:
    """The Property API's RFC 8707 resource identifier: its URL (``{issuer}/api``). A client that finds the API
    through its RFC 9728 metadata asks for a token for this; such tokens carry it as ``aud``, beside
    :data:`API_AUDIENCE` for the SPA's."""
    return f"{issuer.rstrip('/')}{API_PATH}"


def redirect_uri(issuer: str) -> str:
    return f"{issuer.rstrip('/')}{APP_PATH}/callback"


def demo_audit_log_path(database_url: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Where ``pixie demo`` writes its audit log: ``None`` when ``PIXIE_AUDIT_LOG`` says (then that setting holds),
    else a file beside a SQLite Pixie database (``pixie.db`` → ``pixie-audit.log``), else ``pixie-audit.log`` in the
    working directory. A file, not the terminal: the demo's banner with its URLs and logins stays on screen."""
    env = os.environ if env is None else env
    if env.get("PIXIE_AUDIT_LOG"):
        return None
    path = sqlite_file(database_url)
    if path is None:
        return Path("pixie-audit.log")
    return path.with_name(f"{path.stem}-audit.log")


def demo_database_path(database_url: str, env: Mapping[str, str] | None = None) -> Path:
    """The demo's own SQLite file: ``PIXIE_DEMO_DATABASE`` if set, else next to a SQLite Pixie database
    (``pixie.db`` → ``pixie-demo.db``), else ``demo.db`` in the working directory."""
    env = os.environ if env is None else env
    explicit = env.get("PIXIE_DEMO_DATABASE")
    if explicit:
        return Path(explicit)
    path = sqlite_file(database_url)
    if path is None:
        return Path("demo.db")
    return path.with_name(f"{path.stem}-demo{path.suffix or '.db'}")
