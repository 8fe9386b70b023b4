"""Helpers of the tenancy suite: the server's tenants, a browser that lives under ``/t/{tenant}``, and the admin API.

Reuses :mod:`spec.support` (request builders, response checks, the step-by-step :class:`~spec.support.Browser`):
a tenant is addressed as a :class:`~spec.support.Pixie` whose base URL is the tenant's issuer, so every relative
request (``/authorize``, ``/token``) goes to that tenant.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from spec.support import Browser, Pixie, Pkce, authorize_pairs, redirect_params

SPA_CB = "http://127.0.0.1:9999/cb"
GLOBEX_CB = "http://127.0.0.1:9999/globex"
ADMIN_SECRET = "automation-secret-0123456789-abcdefghijklmn"
ACME_ADMIN_SECRET = "acme-automation-secret-0123456789-abcdefgh"
READER_SECRET = "reader-secret-0123456789-abcdefghijklmnopqr"
RS_SECRETS = {
    "acme": "acme-rs-secret-0123456789-abcdefghijklmnop",
    "globex": "globex-rs-secret-0123456789-abcdefghijkl",
}
PASSWORDS = {
    "alice": "alice-in-wonderland",
    "bob": "bob-the-builder-pw",
    "root": "root-admin-password",
    "carol": "carol-no-admin-pw",
}
THEMES = {"acme": ("Welcome to Acme", "#0f766e"), "globex": ("Globex sign-in", "#f59e0b")}
REDIRECTS = {"acme": SPA_CB, "globex": GLOBEX_CB}
USERS = {"acme": "alice", "globex": "bob"}


@dataclass(frozen=True)
class Server:
    """The running server: its origin (the default tenant's issuer) and SQLite file."""

    origin: str
    db_path: Path

    def tenant(self, name: str) -> Pixie:
        """Tenant ``name`` as a :class:`Pixie` whose base URL is its issuer (``default``: the bare origin)."""
        base = self.origin if name == "default" else f"{self.origin}/t/{name}"
        return Pixie(base=base, db_path=self.db_path)

    def client(self) -> httpx.Client:
        return self.tenant("default").client()


def cookie_name(tenant: str) -> str:
    return "pixie-session" if tenant == "default" else f"pixie-session-{tenant}"


class TenantBrowser(Browser):
    """:class:`Browser` for one tenant: interaction pages live under the tenant's path."""

    def __init__(self, server: Server, tenant: str, cookies: dict[str, str] | None = None) -> None:
        super().__init__(server.tenant(tenant), cookies)
        self.server, self.tenant = server, tenant
        self.prefix = "" if tenant == "default" else f"/t/{tenant}"

    def follow(self, response: httpx.Response, step: str) -> httpx.Response:
        assert response.status_code == 303, (response.status_code, response.text[:300])
        location = response.headers["location"]
        assert urlsplit(location).path == self.prefix + step, location
        page = self.http.get(self.server.origin + location)  # absolute: the tenant's base URL already has the prefix
        assert page.status_code == 200, page.text[:300]
        return page

    def session_cookie(self) -> str | None:
        return self.http.cookies.get(cookie_name(self.tenant))

    def sign_in(self, username: str, client_id: str = "app", scope: str = "properties:read") -> str:
        """Sign ``username`` in through ``client_id`` (approving consent if asked); return the code."""
        redirect_uri = REDIRECTS.get(self.tenant, SPA_CB)
        proof = Pkce.new()
        pairs = authorize_pairs(client_id=client_id, redirect_uri=redirect_uri, challenge=proof.challenge, scope=scope)
        response = self.submit_login(self.login_page(pairs), username, PASSWORDS[username])
        if urlsplit(response.headers.get("location", "")).path == self.prefix + "/consent":
            response = self.submit_consent(self.follow(response, "/consent"))
        params = redirect_params(response, redirect_uri)
        assert "code" in params, params
        self.last_verifier = proof.verifier
        return params["code"]


def code_and_verifier(browser: TenantBrowser, client_id: str = "app") -> tuple[str, str]:
    """A fresh code from an already signed-in browser (SSO, remembered consent) and its PKCE verifier."""
    redirect_uri = REDIRECTS.get(browser.tenant, SPA_CB)
    proof = Pkce.new()
    pairs = authorize_pairs(client_id=client_id, redirect_uri=redirect_uri, challenge=proof.challenge)
    return browser.code(pairs, redirect_uri), proof.verifier


def client_credentials(http: httpx.Client, path: str, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = http.post(path, data=data, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class AdminApi:
    """The admin API with a bearer token (``token=None``: no Authorization header at all)."""

    def __init__(self, http: httpx.Client, token: str | None) -> None:
        self.http, self.token = http, token

    def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.http.request(method, "/admin/api" + path, json=json, headers=headers, **kwargs)

    def ok(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        response = self.call(method, path, json)
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["cache-control"] == "no-store"
        assert_no_secrets(response.json(), allow_client_secret=status == 201)
        return response.json()


def assert_no_secrets(value: Any, *, allow_client_secret: bool = False) -> None:
    """No password, hash or sealed secret anywhere in an admin API answer."""
    if isinstance(value, dict):
        for key, item in value.items():
            lowered = key.lower()
            assert "hash" not in lowered and "password" not in lowered and lowered != "webhooks", key
            assert lowered != "client_secret" or allow_client_secret, key
            assert_no_secrets(item, allow_client_secret=allow_client_secret)
    elif isinstance(value, list):
        for item in value:
            assert_no_secrets(item, allow_client_secret=allow_client_secret)
    elif isinstance(value, str):
        assert not value.startswith("$argon2"), value


def wait_for_status(http: httpx.Client, url: str, status: int, within: float) -> float:
    """Poll ``url`` until it answers ``status``; return the seconds it took (fails after ``within``)."""
    start = time.monotonic()
    while True:
        if http.get(url).status_code == status:
            return time.monotonic() - start
        assert time.monotonic() - start < within, f"{url} did not answer {status} within {within} s"
        time.sleep(0.25)


__all__ = [
    "ACME_ADMIN_SECRET",
    "ADMIN_SECRET",
    "GLOBEX_CB",
    "PASSWORDS",
    "READER_SECRET",
    "REDIRECTS",
    "RS_SECRETS",
    "SPA_CB",
    "THEMES",
    "USERS",
    "AdminApi",
    "Server",
    "TenantBrowser",
    "assert_no_secrets",
    "client_credentials",
    "code_and_verifier",
    "cookie_name",
    "wait_for_status",
]
