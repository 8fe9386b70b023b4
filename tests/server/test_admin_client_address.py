"""The dashboard's own client keeps the callback it was registered with (``{issuer}/admin/callback``, matched
exactly like every registered redirect URI). A database first served under another address — another port of the
same loopback host included — does not send the dashboard's code there: the sign-in stops on Pixie's error page,
and the server log says why.

Spec: RFC 9700 §4.1.3 (exact redirect-URI matching), RFC 6749 §4.1.2.1 (errors before the redirect URI is trusted
are shown, not redirected).
"""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import Settings
from pixie.server.app import create_app, open_backend
from spec.support import assert_error_page


async def _open_once(settings: Settings) -> None:
    async with open_backend(settings):
        pass


def test_a_changed_port_stops_the_dashboard_sign_in_on_our_page(
    server_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    first = dataclasses.replace(server_settings, issuer=f"http://127.0.0.1:{free_port()}")
    run_coroutine(_open_once(first))  # registers pixie-admin with the first address's callback
    port = int(server_settings.issuer.rsplit(":", 1)[1])
    app = create_app(server_settings)
    with (
        caplog.at_level(logging.WARNING, logger="pixie.server.admin"),
        serve_in_thread(app, port) as base,
        httpx.Client(base_url=base) as http,
    ):
        started = http.get("/admin")
        assert started.status_code == 303
        assert_error_page(http.get(started.headers["location"]), 400)
    assert f"{first.issuer}/admin/callback" in caplog.text and "cannot sign anyone in" in caplog.text
