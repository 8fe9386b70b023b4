"""Issue 7 item 1: each tenant's sign-in pages carry its title and brand colour — through a per-tenant stylesheet,
since the pages' CSP forbids inline styles (``style-src 'self'``).

The browser tests look at the real pages in headless Chromium: the computed colours come from the tenant's sheet,
the CSP reports no violation, and screenshots of both tenants' login pages land in ``test-artifacts/e2e``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import ConsoleMessage

from e2e.conftest import ARTIFACTS, browser  # noqa: F401  (the module-scoped Chromium fixture)
from pixie.server.endpoints.theme import contrast_ratio, theme_stylesheet
from spec.support import authorize_pairs
from tenancy.support import REDIRECTS, THEMES, Server, TenantBrowser


def _rgb(color: str) -> str:
    return "rgb({}, {}, {})".format(*(int(color[i : i + 2], 16) for i in (1, 3, 5)))


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_login_page_links_the_tenants_sheet(server: Server, tenant: str) -> None:
    title, color = THEMES[tenant]
    with TenantBrowser(server, tenant) as visitor:
        page = visitor.login_page(authorize_pairs(client_id="app", redirect_uri=REDIRECTS[tenant]))
    assert f"<h1>{title}</h1>" in page.text
    href = f"/t/{tenant}/theme.css?v={color[1:]}"
    assert f'<link rel="stylesheet" href="{href}">' in page.text
    assert "style=" not in page.text and "<style" not in page.text
    assert "style-src 'self'" in page.headers["content-security-policy"]


def test_theme_css_is_the_validated_colour_and_cacheable(http: httpx.Client) -> None:
    response = http.get("/t/acme/theme.css?v=0f766e")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert "--brand: #0f766e;" in response.text
    assert "--brand: #4f46e5;" in http.get("/theme.css").text  # the default tenant's default colour


def test_error_page_uses_the_tenants_sheet_too(server: Server) -> None:
    with TenantBrowser(server, "globex") as visitor:
        page = visitor.authorize(authorize_pairs(client_id="app", redirect_uri="http://127.0.0.1:9999/elsewhere"))
    assert page.status_code == 400
    assert 'href="/t/globex/theme.css?v=f59e0b"' in page.text


@pytest.mark.parametrize(
    ("stored", "brand", "on_brand", "brand_text"),
    [
        ("#0F766E", "#0f766e", "#ffffff", "#0f766e"),
        ("#fc0", "#ffcc00", "#111827", "#111827"),  # light: dark text on buttons, ink for brand-coloured text
        ("red; } body { display: none", "#4f46e5", "#ffffff", "#4f46e5"),  # never into CSS, even if stored
        ("#12345", "#4f46e5", "#ffffff", "#4f46e5"),
    ],
)
def test_stylesheet_values(stored: str, brand: str, on_brand: str, brand_text: str) -> None:
    sheet = theme_stylesheet(stored)
    assert sheet == f":root {{ --brand: {brand}; --on-brand: {on_brand}; --brand-text: {brand_text}; }}\n"
    assert contrast_ratio(brand, on_brand) >= 3


def test_contrast_ratio_bounds() -> None:
    """WCAG 2.2: black on white is 21:1, a colour on itself 1:1."""
    assert round(contrast_ratio("#000000", "#ffffff"), 2) == 21.0
    assert contrast_ratio("#0f766e", "#0f766e") == 1.0


def test_two_tenants_login_pages_in_chromium(server: Server, browser: Chromium) -> None:  # noqa: F811
    """Headless Chromium renders each tenant's page with its own colour and title, with no CSP violation."""
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    for tenant, (title, color) in THEMES.items():
        context = browser.new_context(viewport={"width": 720, "height": 640})
        page = context.new_page()
        page.on("console", on_console)
        query = urlencode(authorize_pairs(client_id="app", redirect_uri=REDIRECTS[tenant]))
        page.goto(f"{server.origin}/t/{tenant}/authorize?{query}")
        assert page.url.startswith(f"{server.origin}/t/{tenant}/login")
        assert page.locator("h1").inner_text() == title
        button = page.locator("button.primary")
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") == _rgb(color)
        on_brand = "#111827" if tenant == "globex" else "#ffffff"
        assert button.evaluate("b => getComputedStyle(b).color") == _rgb(on_brand)
        assert page.locator(".brand .tenant").inner_text() == tenant.capitalize()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"tenant-login-{tenant}.png"), full_page=True)
        assert violations == []
        context.close()
