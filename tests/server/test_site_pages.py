"""The pages around the protocol: ``/favicon.ico`` answers, every HTML page links an icon that answers, and both
"Signed out" pages link back somewhere that answers (the start page ``/``, the dashboard)."""

from __future__ import annotations

import re

import httpx

from pixie.management import create_tenant
from pixie.testing import PixieTestServer

_ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">')
_LINKS = re.compile(r'<p class="links">(.*?)</p>', re.S)


def _icon_of(http: httpx.Client, page: httpx.Response) -> None:
    """The page links an SVG icon, and fetching it gives one."""
    match = _ICON_LINK.search(page.text)
    assert match is not None, page.text[:400]
    icon = http.get(match.group(1))
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")


def test_favicon_ico_is_an_icon_and_every_kind_of_page_links_one(live_server: str) -> None:
    with httpx.Client(base_url=live_server) as http:
        icon = http.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # ICO header: reserved 0, type 1 (icon)
        assert int.from_bytes(icon.content[4:6], "little") == 3  # 16, 32 and 48 px
        assert "max-age" in icon.headers["cache-control"]
        home = http.get("/")
        assert home.status_code == 200 and "Sign-in service" in home.text
        error = http.get("/authorize")  # no client: our own error page
        assert error.status_code == 400
        for page in (home, error):
            _icon_of(http, page)


def test_signed_out_pages_link_back_to_pages_that_answer(live_server: str) -> None:
    """``POST /logout`` and ``POST /admin/logout`` (from the server's own origin) end on "Signed out" with a link
    back: the start page, the dashboard (which sends an administrator to sign in again)."""
    with httpx.Client(base_url=live_server, headers={"Origin": live_server}) as http:
        for path, back in (("/logout", "/"), ("/admin/logout", "/admin")):
            page = http.post(path)
            assert page.status_code == 200, page.text[:300]
            assert "<h1>Signed out</h1>" in page.text
            links = _LINKS.search(page.text)
            assert links is not None and f'<a href="{back}">' in links.group(1), page.text
            _icon_of(http, page)
            target = http.get(back)
            assert target.status_code in (200, 303), (back, target.status_code)


def test_a_tenant_has_a_start_page_of_its_own_and_its_sign_out_links_there() -> None:
    """``/t/{tenant}/`` is that tenant's start page (the dashboard link is the default tenant's only), and its
    "Signed out" page links there; an unknown tenant's is 404."""
    with PixieTestServer() as pixie:
        context = pixie._context
        pixie._call(create_tenant(context.storage, context.keyring, "acme", settings=None))
        with httpx.Client(base_url=pixie.issuer, headers={"Origin": pixie.issuer}) as http:
            home = http.get("/t/acme/")
            assert home.status_code == 200 and "Sign-in service" in home.text
            assert 'href="/admin"' not in home.text and 'href="/admin"' in http.get("/").text
            signed_out = http.post("/t/acme/logout")
            assert signed_out.status_code == 200 and '<a href="/t/acme/">' in signed_out.text
            assert http.get("/t/nope/").status_code == 404
