"""Names people read: the sign-in and consent pages name the client by its display name (with its logo) and the
organisation by the tenant's display name, never by ids; the dashboard's client reads "Pixie administration".

Headless Chromium shows the pages (screenshots in ``test-artifacts/e2e``); the logo is served by Playwright's
router for its https origin, so the page's own Content-Security-Policy decides whether it may load.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Route, expect

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.support import Pkce, authorize_pairs

MASTER = b"names-master-key-names-master-32"
LOGO = "https://logo.example/property-manager.png"
CALLBACK = "http://127.0.0.1:9999/cb"


def _png(size: int = 64, rgb: tuple[int, int, int] = (15, 118, 110)) -> bytes:
    """A plain square PNG (RFC 2083): the logo the router serves."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER))
        await storage.tenants.set_display_name("default", "Acme Properties")
        common = {"redirect_uris": [CALLBACK], "public": True, "scopes": ["properties:read", "tenants:read"]}
        await register_client(storage, "default", "pm-spa", name="Property Manager", logo_uri=LOGO, **common)
        await register_client(storage, "default", "sneaky", name='<img src=x onerror="alert(1)">', **common)
        await register_client(storage, "default", "plain-id", **common)
        await create_user(storage, "default", "alice", "alice-in-wonderland", roles=["admin"])


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'names.db'}"
    run_coroutine(_seed(database_url))
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER)
    with serve_pixie(settings) as base:
        yield base


def _login_page(
    issuer: str, client_id: str, redirect_uri: str = CALLBACK, scope: str = "properties:read"
) -> httpx.Response:
    with httpx.Client(base_url=issuer, follow_redirects=True) as http:
        pairs = authorize_pairs(client_id=client_id, redirect_uri=redirect_uri, scope=scope)
        page = http.get("/authorize", params=pairs)
    assert page.status_code == 200 and "/login" in str(page.url), page.text[:300]
    return page


def test_login_page_names_client_and_tenant(issuer: str) -> None:
    page = _login_page(issuer, "pm-spa")
    assert "to continue to <strong>Property Manager</strong>" in page.text
    assert "pm-spa" not in page.text  # the id is not shown
    assert '<span class="tenant">Acme Properties</span>' in page.text and "Default" not in page.text
    assert f'<img class="client-logo" src="{LOGO}"' in page.text
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://logo.example;" in policy  # that origin, nothing wider
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_a_client_without_a_name_is_shown_by_id_and_names_are_escaped(issuer: str) -> None:
    plain = _login_page(issuer, "plain-id")
    assert "to continue to <strong>plain-id</strong>" in plain.text
    assert "client-logo" not in plain.text and "img-src 'self' data:;" in plain.headers["content-security-policy"]
    sneaky = _login_page(issuer, "sneaky")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in sneaky.text
    assert "<img src=x" not in sneaky.text


def test_the_dashboard_client_reads_pixie_administration(issuer: str) -> None:
    page = _login_page(issuer, "pixie-admin", redirect_uri=f"{issuer}/admin/callback", scope="pixie:admin")
    assert "to continue to <strong>Pixie administration</strong>" in page.text


def test_login_and_consent_in_chromium(browser: Browser, issuer: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 760})
    logo_requests: list[str] = []

    def serve_logo(route: Route) -> None:
        logo_requests.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=_png())

    context.route("https://logo.example/**", serve_logo)
    violations: list[str] = []
    page = context.new_page()
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    pkce = Pkce.new()
    query = httpx.QueryParams(authorize_pairs(client_id="pm-spa", challenge=pkce.challenge))
    page.goto(f"{issuer}/authorize?{query}")
    page.wait_for_url(f"{issuer}/login?*")
    expect(page.locator(".lead strong")).to_have_text("Property Manager")
    expect(page.locator(".brand .tenant")).to_have_text("Acme Properties")
    logo = page.locator("img.client-logo")
    expect(logo).to_be_visible()
    page.wait_for_function("document.querySelector('img.client-logo').naturalWidth > 0")
    page.screenshot(path=str(artifacts / "names-login.png"), full_page=True)

    page.fill("#username", "alice")
    page.fill("#password", "alice-in-wonderland")
    page.click("button[type=submit]")
    page.wait_for_url(f"{issuer}/consent?*")
    expect(page.locator(".lead strong")).to_have_text("Property Manager")
    page.wait_for_function("document.querySelector('img.client-logo').naturalWidth > 0")
    page.screenshot(path=str(artifacts / "names-consent.png"), full_page=True)
    assert logo_requests == [LOGO, LOGO] and violations == []
    context.close()
