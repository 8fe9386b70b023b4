"""Browser hardening of every HTML page: no framing, no inline script, no referrer, no third-party resources
(ARCHITECTURE §6.5; issue 3 item 8).

Spec: RFC 9700 §4.16 and RFC 6749 §10.13 (clickjacking: X-Frame-Options, CSP ``frame-ancestors``); RFC 7034;
RFC 9700 §4.2.4 (Referrer-Policy on the authorization server's pages); CSP Level 3 (``script-src``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from spec.support import PASSWORDS, Browser, Pixie, authorize_pairs

Page = Callable[[Pixie, Browser, Browser], httpx.Response]


def _login(pixie: Pixie, browser: Browser, alice: Browser) -> httpx.Response:
    return browser.login_page(authorize_pairs())


def _consent(pixie: Pixie, browser: Browser, alice: Browser) -> httpx.Response:
    return alice.follow(alice.authorize(authorize_pairs(prompt="consent")), "/consent")


def _untrusted_error(pixie: Pixie, browser: Browser, alice: Browser) -> httpx.Response:
    return browser.authorize(authorize_pairs(redirect_uri="https://evil.example/cb"))


def _expired_request(pixie: Pixie, browser: Browser, alice: Browser) -> httpx.Response:
    return browser.http.get("/login", params={"request": "no-such-request"})


def _csrf_failure(pixie: Pixie, browser: Browser, alice: Browser) -> httpx.Response:
    page = browser.login_page(authorize_pairs())
    return browser.submit_login(page, "alice", PASSWORDS["alice"], csrf_token="forged")


def _consent_expired(pixie: Pixie, browser: Browser, alice: Browser) -> httpx.Response:
    return alice.http.get("/consent", params={"request": "no-such-request"})


def _signed_out(pixie: Pixie, browser: Browser, alice: Browser) -> httpx.Response:
    return browser.http.post("/logout", headers={"Origin": pixie.origin})


PAGES = [
    pytest.param(_login, 200, id="login"),
    pytest.param(_consent, 200, id="consent"),
    pytest.param(_untrusted_error, 400, id="error-untrusted-redirect"),
    pytest.param(_expired_request, 400, id="error-unknown-request"),
    pytest.param(_csrf_failure, 403, id="error-csrf"),
    pytest.param(_consent_expired, 400, id="error-consent-unknown-request"),
    pytest.param(_signed_out, 200, id="signed-out"),
]

_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""", re.IGNORECASE)


@pytest.mark.parametrize(("page", "status"), PAGES)
def test_html_page_hardening(pixie: Pixie, browser: Browser, alice: Browser, page: Page, status: int) -> None:
    """RFC 9700 §4.16 / RFC 6749 §10.13: ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``; no inline
    script allowed by the CSP and none in the page; ``Referrer-Policy: no-referrer`` (RFC 9700 §4.2.4); pages are
    not cached; no resource or link to a third-party host."""
    response = page(pixie, browser, alice)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert len(headers.get_list("content-security-policy")) == 1
    directives = {
        d.strip().split(" ")[0]: d.strip().split(" ")[1:]
        for d in headers["content-security-policy"].split(";")
        if d.strip()
    }
    assert directives["frame-ancestors"] == ["'none'"]
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, "no script-src and no default-src: any script may run"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts and "*" not in scripts
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    html = response.text.lower()
    assert "<script" not in html
    assert "<iframe" not in html and "<object" not in html and "<embed" not in html
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "javascript:" not in html
    for url in _URL.findall(response.text):
        assert url.startswith(pixie.base), f"third-party URL in page: {url}"


def test_stylesheet_is_first_party(http: httpx.Client) -> None:
    """Issue 3 item 8: the pages' only resource, the stylesheet, is served by Pixie and pulls nothing from others."""
    response = http.get("/static/pixie.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "@import" not in response.text
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", response.text)


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/jwks.json", "/token", "/authorize", "/no-such-page"]
)
def test_headers_on_non_html_responses(http: httpx.Client, path: str) -> None:
    """ARCHITECTURE §6.5: the same framing and referrer protection on every response, JSON and errors included."""
    response = http.post(path) if path == "/token" else http.get(path)
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
