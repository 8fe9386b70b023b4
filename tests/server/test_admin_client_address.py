"""The dashboard's own client follows the address of the server that serves it: a database first opened under
another address (a CLI command's default issuer, or another port of the same loopback host) still signs its
administrators in, because a starting server points ``pixie-admin``'s one redirect URI at its own
``{issuer}/admin/callback``. CLI commands never move it, and matching stays exact: the code goes to this server's own
page and nowhere else (``tests/spec/test_redirect_uri.py`` sends it to another port and is refused).

Spec: RFC 9700 §4.1.3 (exact redirect-URI matching).
"""

from __future__ import annotations

import dataclasses

import httpx

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.server.admin_session import ADMIN_CLIENT_ID
from pixie.server.app import open_backend
from pixie.tenancy import DEFAULT_TENANT


async def _open_once(settings: Settings) -> tuple[str, ...]:
    """What a CLI command does to the dashboard's client; its redirect URIs afterwards."""
    async with open_backend(settings) as (storage, _):
        client = await storage.clients.get(DEFAULT_TENANT, ADMIN_CLIENT_ID)
        assert client is not None
        return client.redirect_uris


def test_a_server_on_another_address_points_the_dashboard_client_at_itself(server_settings: Settings) -> None:
    first = dataclasses.replace(server_settings, issuer=f"http://127.0.0.1:{free_port()}")
    assert run_coroutine(_open_once(first)) == (f"{first.issuer}/admin/callback",)
    with serve_pixie(server_settings) as base, httpx.Client(base_url=base) as http:
        started = http.get("/admin")
        assert started.status_code == 303
        login = http.get(started.headers["location"], follow_redirects=True)
        assert login.status_code == 200 and 'name="password"' in login.text, login.text[:300]
    own = (f"{server_settings.issuer}/admin/callback",)
    assert run_coroutine(_open_once(server_settings)) == own
    # A CLI command under yet another address leaves the serving address alone.
    elsewhere = dataclasses.replace(server_settings, issuer=f"http://127.0.0.1:{free_port()}")
    assert run_coroutine(_open_once(elsewhere)) == own
