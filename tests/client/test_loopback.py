"""``login_with_browser`` (RFC 8252 native-app sign-in) against the real Pixie server: a loopback listener on an
ephemeral port, the "you can close this window" page, foreign requests ignored, refusals and timeouts surfaced
(issue 5, item 7)."""

from __future__ import annotations

import socket
import time
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from client.support import FULL_SCOPE, follow_to_callback
from pixie.client import ServerRefused, login_with_browser
from pixie.resource import jws
from spec.support import Browser, Pixie


class Driver:
    """Plays the user's browser: follows the sign-in URL with alice's session and delivers the callback."""

    def __init__(self, browser: Browser, *, approve: bool = True, before: list[str] | None = None) -> None:
        self.browser, self.approve, self.before = browser, approve, before or []
        self.url = ""
        self.pages: list[httpx.Response] = []

    def __call__(self, url: str) -> None:
        self.url = url
        callback = follow_to_callback(self.browser, url, approve=self.approve)
        for path_and_query in self.before:  # requests that are not the real callback, sent first
            self.pages.append(self.browser.http.get(f"{self.redirect_uri.rsplit('/', 1)[0]}{path_and_query}"))
        self.pages.append(self.browser.http.get(callback))

    @property
    def redirect_uri(self) -> str:
        return dict(parse_qsl(urlsplit(self.url).query))["redirect_uri"]


def test_signs_in_and_shows_the_close_page(pixie: Pixie, alice: Browser) -> None:
    """RFC 8252 §7.3 / §8.3: redirect URI ``http://127.0.0.1:{port}/callback`` on a port the OS chose; the
    browser lands on a small page that says it can be closed; the tokens come back verified."""
    driver = Driver(alice)
    tokens = login_with_browser(pixie.issuer, "cli", FULL_SCOPE, open_browser=driver, timeout=30)
    redirect = urlsplit(driver.redirect_uri)
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    assert redirect.port and redirect.port > 0
    page = driver.pages[-1]
    assert page.status_code == 200 and "You can close this window" in page.text and "Signed in" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    claims = jws.verify_jwt(tokens.access_token, httpx.get(f"{pixie.base}/jwks.json").json()).claims
    assert claims["client_id"] == "cli" and claims["sub"] == pixie.user_ids["alice"]
    assert tokens.refresh_token and tokens.scope == FULL_SCOPE


def test_foreign_requests_do_not_end_the_sign_in(pixie: Pixie, alice: Browser) -> None:
    """Any local page can point the browser at our port, but cannot know the state: such a request (and one to
    another path) is answered and ignored; the real callback still completes."""
    driver = Driver(alice, before=["/callback?code=evil&state=guess", "/favicon.ico"])
    tokens = login_with_browser(pixie.issuer, "cli", FULL_SCOPE, open_browser=driver, timeout=30)
    assert tokens.access_token
    assert [page.status_code for page in driver.pages] == [400, 404, 200]
    assert "does not belong" in driver.pages[0].text


def test_wrong_host_header_is_refused(pixie: Pixie, alice: Browser) -> None:
    """DNS rebinding: a request that reached our port under another host name is not served."""
    seen: list[int] = []

    def open_browser(url: str) -> None:
        redirect = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
        callback = follow_to_callback(alice, url)
        seen.append(alice.http.get(callback, headers={"Host": "rebound.example"}).status_code)
        seen.append(alice.http.get(callback).status_code)
        assert callback.startswith(redirect)

    login_with_browser(pixie.issuer, "cli", FULL_SCOPE, open_browser=open_browser, timeout=30)
    assert seen == [421, 200]


def test_refusal_is_raised_and_shown(pixie: Pixie, alice: Browser) -> None:
    """The user denies consent: the page says so, the call raises ServerRefused(access_denied)."""
    driver = Driver(alice, approve=False)
    with pytest.raises(ServerRefused) as refused:
        login_with_browser(
            pixie.issuer, "cli", FULL_SCOPE, open_browser=driver, timeout=30, extra_params=[("prompt", "consent")]
        )
    assert refused.value.error == "access_denied"
    assert driver.pages[-1].status_code == 400 and "access_denied" in driver.pages[-1].text
    assert "You can close this window" in driver.pages[-1].text


def test_timeout_is_clear_and_frees_the_port(pixie: Pixie, capsys: pytest.CaptureFixture[str]) -> None:
    """Nobody comes back: TimeoutError naming the wait, after about ``timeout`` seconds; the listener is closed.
    With ``open_browser=False`` the URL is printed on stderr for the user to open elsewhere."""
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no sign-in came back .* within 0.5 seconds"):
        login_with_browser(pixie.issuer, "cli", open_browser=False, timeout=0.5)
    assert time.monotonic() - started < 5
    printed = capsys.readouterr().err
    url = next(line.strip() for line in printed.splitlines() if line.strip().startswith("http"))
    assert url.startswith(f"{pixie.base}/authorize?") and "Open this URL" in printed
    port = urlsplit(dict(parse_qsl(urlsplit(url).query))["redirect_uri"]).port
    assert port is not None
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))
