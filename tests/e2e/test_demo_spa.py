"""The demo as a newcomer sees it (issue 6): ``pixie demo`` in a subprocess, the SPA at ``/app`` in headless
Chromium. alice signs in, consents, sees the properties, survives a reload and a token refresh, adds a property
and signs out; then bob signs in, sees the list, and his attempt to add one is refused with a clear message.
No token ever reaches localStorage or sessionStorage. Screenshots of every step go to test-artifacts/e2e/.

The second test drives the browser package (``@pixie-oauth/browser``, served at ``/app/sdk/``) itself in the
browser: verifier, challenge and state formats (checked against Pixie's Python PKCE code) and the callback checks
(state, flow timeout, RFC 9207 ``iss``, error responses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from livesupport import cli_env, free_port, pixie_process
from pixie import pkce
from pixie.demo.config import CLIENT_ID, USERS

PASSWORDS = {user.username: user.password for user in USERS}
STORAGE_DUMP = "() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``pixie demo`` on a free port over a fresh SQLite database (and a fresh demo store beside it)."""
    root = tmp_path_factory.mktemp("demo-e2e")
    port = free_port()
    env = cli_env(root, f"sqlite:///{root / 'pixie.db'}", {"PIXIE_SECRET_KEY": "B" * 43})
    url = f"http://127.0.0.1:{port}"
    with pixie_process(["demo", "--port", str(port)], env, f"{url}/app/"):
        yield url


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.clock.install()  # the page's timers, so a token refresh can be brought forward
    return context


def _shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"demo-{name}.png"), full_page=True)


def _assert_no_tokens_stored(page: Page, tokens: list[str]) -> None:
    """RFC 9700 §4.13 / browser-based apps BCP: tokens live in memory only."""
    dump = page.evaluate(STORAGE_DUMP)
    for token in tokens:
        assert token not in dump
    assert "eyJ" not in dump  # no JWT of any kind
    assert "access_token" not in dump and "refresh_token" not in dump


def _token_response(page: Page, action: Any, grant_type: str) -> dict[str, Any]:
    """Run ``action`` and return the body of the ``/token`` response it causes (the SPA's fetch)."""

    def is_token(response: Any) -> bool:
        return bool(response.url.endswith("/token") and response.request.method == "POST")

    with page.expect_response(is_token) as info:
        action()
    response = info.value
    assert parse_qs(response.request.post_data or "")["grant_type"] == [grant_type]
    assert response.status == 200, response.text()
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _sign_in(page: Page, base: str, artifacts: Path, username: str) -> dict[str, Any]:
    """From the landing page: sign in, check the consent page, approve; the token response the SPA received."""
    page.click("#signin")
    page.wait_for_url(f"{base}/login?*")
    expect(page.locator("h1")).to_have_text("Sign in")
    query = parse_qs(page.url.split("?", 1)[1])
    assert "request" in query  # the SPA's parameters are held server-side, the page names only the request
    _shot(page, artifacts, f"{username}-1-login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/consent?*")
    expect(page.locator(".scopes")).to_contain_text("View your properties")
    _shot(page, artifacts, f"{username}-2-consent")
    consent_text = page.locator(".scopes").inner_text()
    tokens = _token_response(page, lambda: page.click("button[value=approve]"), "authorization_code")
    page.wait_for_url(f"{base}/app/")  # the code left the address bar and the history entry
    expect(page.locator("#workspace")).to_be_visible()
    tokens["consent_text"] = consent_text
    return tokens


def _fill_property(page: Page, name: str) -> None:
    page.fill("#f-name", name)
    page.fill("#f-address", "12 Rose Street")
    page.fill("#f-city", "Edinburgh")
    page.select_option("#f-kind", "house")
    page.fill("#f-bedrooms", "3")
    page.fill("#f-rent", "1850")


def test_alice_adds_a_property_and_bob_is_refused(browser: Browser, base: str, artifacts: Path) -> None:
    context = _context(browser)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.location["url"]) if m.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{base}/app")
    expect(page.locator("#landing")).to_be_visible()
    assert page.url == f"{base}/app/"
    _shot(page, artifacts, "0-landing")

    # alice: every scope, the seeded properties, tokens in memory only.
    alice = _sign_in(page, base, artifacts, "alice")
    assert "Create and change your properties" in alice["consent_text"]
    assert alice["scope"] == "openid profile properties:read properties:write tenants:read"
    expect(page.locator("#who")).to_have_text("Signed in as Alice Smith · property manager")  # userinfo's name
    rows = page.locator("#properties tr")
    expect(rows.first).to_be_visible()
    seeded = rows.count()
    assert seeded >= 6
    expect(page.locator("#access li.granted")).to_have_count(3)
    expect(page.locator("#readonly-hint")).to_be_hidden()
    expect(page.locator("#tenants")).to_contain_text("Maya Jansen")
    _shot(page, artifacts, "alice-3-properties")
    _assert_no_tokens_stored(page, [alice["access_token"], alice["refresh_token"]])

    # A reload forgets the tokens; the SPA gets new ones silently from the SSO session (prompt=none).
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url) if request.is_navigation_request() else None)
    resumed = _token_response(page, page.reload, "authorization_code")
    expect(page.locator("#workspace")).to_be_visible()
    assert not any("/login" in url or "/consent" in url for url in visited), visited
    assert any("prompt=none" in url for url in visited), visited
    assert resumed["access_token"] != alice["access_token"]

    # Four minutes on (the access token lives five): the SPA refreshes, and keeps the rotated refresh token.
    refreshed = _token_response(page, lambda: page.clock.fast_forward("04:05"), "refresh_token")
    assert refreshed["refresh_token"] != resumed["refresh_token"]
    expect(page.locator("#token-expiry")).to_contain_text(re.compile(r"expires in (5:00|4:5\d)"))  # the new token

    # alice adds a property, with the refreshed access token.
    _fill_property(page, "Sunny Corner Flat")
    with page.expect_request(lambda r: r.url.endswith("/api/properties") and r.method == "POST") as sent:
        page.click("#add-submit")
    assert sent.value.headers["authorization"] == f"Bearer {refreshed['access_token']}"
    expect(page.locator("#notice")).to_contain_text("Added.")
    expect(page.locator("#properties tr.fresh")).to_contain_text("Sunny Corner Flat")
    expect(rows).to_have_count(seeded + 1)
    _shot(page, artifacts, "alice-4-added")
    _assert_no_tokens_stored(page, [resumed["access_token"], refreshed["access_token"], refreshed["refresh_token"]])

    # Sign out: the refresh token is revoked at the server and the SSO session ends.
    with page.expect_response(lambda r: r.url.endswith("/revoke")) as revoked:
        page.click("#signout")
    assert revoked.value.status == 200
    expect(page.locator("#landing")).to_be_visible()
    expect(page.locator("#notice")).to_contain_text("You are signed out")
    _shot(page, artifacts, "alice-5-signed-out")
    replay = httpx.post(
        f"{base}/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "client_id": CLIENT_ID},
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    # bob, in the same browser: asked for a password again (alice's session is over); read only.
    bob = _sign_in(page, base, artifacts, "bob")
    assert "Create and change your properties" not in bob["consent_text"]
    assert bob["scope"] == "openid profile properties:read tenants:read"  # narrowed by the server (RFC 6749 §3.3)
    expect(rows).to_have_count(seeded + 1)
    expect(page.locator("#properties")).to_contain_text("Sunny Corner Flat")
    expect(page.locator('#access li.missing[data-scope="properties:write"]')).to_be_visible()
    expect(page.locator("#readonly-hint")).to_be_visible()
    _shot(page, artifacts, "bob-3-properties")

    _fill_property(page, "Bob's Bungalow")
    with page.expect_response(lambda r: r.url.endswith("/api/properties") and r.request.method == "POST") as refused:
        page.click("#add-submit")
    assert refused.value.status == 403
    notice = page.locator("#notice")
    expect(notice).to_contain_text("You can't add properties.")
    expect(notice).to_contain_text("properties:write")
    expect(notice).to_have_class("notice error")
    expect(rows).to_have_count(seeded + 1)
    _shot(page, artifacts, "bob-4-refused")
    _assert_no_tokens_stored(page, [bob["access_token"], bob["refresh_token"]])
    assert failed == [f"403 {base}/api/properties"], failed  # the refused POST is the only failure
    # No script error either; the browser's own favicon.ico probe on Pixie's sign-in pages is not the demo's.
    assert [url for url in console_errors if not url.endswith("/favicon.ico")] == [f"{base}/api/properties"]
    context.close()


PKCE_CHECKS = """async () => {
  const m = await import("/app/sdk/index.js");
  const verifiers = [m.generateVerifier(), m.generateVerifier(43), m.generateVerifier(128), m.generateVerifier()];
  let rangeError = false;
  try { m.generateVerifier(42); } catch (e) { rangeError = e instanceof RangeError; }
  const challenges = [];
  for (const v of verifiers) challenges.push(await m.createChallenge(v));
  return { verifiers, challenges, states: [m.generateState(), m.generateState()], rangeError };
}"""

CALLBACK_CHECKS = """async ({ issuer, clientId, redirectUri }) => {
  const m = await import("/app/sdk/index.js");
  const auth = await m.PixieAuth.discover({ issuer, clientId, redirectUri, scope: "properties:read" });
  const key = (state) => "pixie-pkce:flow:" + state;
  const remember = (state, age = 0) => sessionStorage.setItem(key(state), JSON.stringify({
    verifier: m.generateVerifier(), issuer, clientId, redirectUri, scope: "properties:read",
    createdAt: Date.now() - age,
  }));
  const attempt = async (query) => {
    try { await auth.handleCallback(redirectUri + "?" + query); return "accepted"; }
    catch (e) { return e.name + ": " + (e.error || e.message); }
  };
  const good = m.generateState();
  const iss = "iss=" + encodeURIComponent(issuer);
  const results = {};
  results.unknownState = await attempt("code=abc&state=" + m.generateState() + "&" + iss);
  results.badStateFormat = await attempt("code=abc&state=a%20b&" + iss);
  remember(good);
  results.wrongIss = await attempt("code=abc&state=" + good + "&iss=" + encodeURIComponent("https://evil.example"));
  results.reused = await attempt("code=abc&state=" + good + "&" + iss);
  const noIss = m.generateState(); remember(noIss);
  results.missingIss = await attempt("code=abc&state=" + noIss);
  const old = m.generateState(); remember(old, 11 * 60 * 1000);
  results.expired = await attempt("code=abc&state=" + old + "&" + iss);
  const denied = m.generateState(); remember(denied);
  results.denied = await attempt("error=access_denied&error_description=no&state=" + denied + "&" + iss);
  const badCode = m.generateState(); remember(badCode);
  results.badCode = await attempt("code=not-a-real-code&state=" + badCode + "&" + iss);
  results.left = Object.keys(sessionStorage).filter((k) => k.startsWith("pixie-pkce:"));
  results.isCallback = [
    auth.isCallback(redirectUri + "?code=x&state=y"), auth.isCallback(issuer + "/app/?code=x&state=y"),
  ];
  return results;
}"""


def test_pixie_pkce_module_in_the_browser(browser: Browser, base: str) -> None:
    """RFC 7636 §4.1–§4.2 formats, RFC 6749 §10.12 state, RFC 9207 §2.4 ``iss``, flow timeout and single use."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/app/")
    made = page.evaluate(PKCE_CHECKS)
    lengths = [len(v) for v in made["verifiers"]]
    assert lengths == [64, 43, 128, 64] and made["rangeError"]
    assert len(set(made["verifiers"])) == 4 and len(set(made["states"])) == 2
    for verifier, challenge in zip(made["verifiers"], made["challenges"], strict=True):
        pkce.validate_verifier(verifier)
        assert challenge == pkce.create_challenge(verifier)  # the browser's S256 equals Pixie's
    for state in made["states"]:
        assert len(state) == 43 and all(ch.isalnum() or ch in "-_" for ch in state)  # 256 bits, URL-safe

    results = page.evaluate(
        CALLBACK_CHECKS, {"issuer": base, "clientId": CLIENT_ID, "redirectUri": f"{base}/app/callback"}
    )
    assert results["unknownState"].startswith("ProtocolError: no sign-in was started")
    assert results["badStateFormat"] == "ProtocolError: the response has no valid state"
    assert results["wrongIss"] == "ProtocolError: the response came from https://evil.example"
    assert results["reused"].startswith("ProtocolError: no sign-in was started")  # removed on first use
    assert results["missingIss"] == "ProtocolError: the response has no iss parameter"
    assert results["expired"] == "ProtocolError: the sign-in took too long; try again"
    assert results["denied"] == "OAuthError: access_denied"
    assert results["badCode"] == "OAuthError: invalid_grant"  # the real token endpoint's answer, surfaced
    assert results["left"] == []  # every flow record is gone, used or not
    assert results["isCallback"] == [True, False]
    assert json.loads(page.evaluate(STORAGE_DUMP))["local"] == {}
    context.close()
