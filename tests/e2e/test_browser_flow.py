"""A public client signs a real user in through headless Chromium: login, consent, code, token (issue 3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from client_app import client_app
from playwright.sync_api import Browser, expect

from livesupport import free_port, serve_in_thread
from pixie.resource import jws
from pixie.testing import PixieTestServer

PASSWORD = "alice-in-wonderland"


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """A Pixie of this test alone (:mod:`pixie.testing`) with the SPA's client and alice, and the SPA."""
    app_port = free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    with PixieTestServer() as pixie:
        pixie.add_client("e2e-spa", scope="properties:read tenants:read", redirect_uri=f"{app_url}/cb")
        pixie.add_user("alice", PASSWORD)
        spa = client_app(
            issuer=pixie.issuer, client_id="e2e-spa", redirect_uri=f"{app_url}/cb", scope="properties:read"
        )
        with serve_in_thread(spa, app_port):
            yield pixie.issuer, app_url


def _result(page: object) -> dict[str, object]:
    text = page.locator("#result").inner_text()  # type: ignore[attr-defined]
    assert not text.startswith("ERROR"), text
    data: dict[str, object] = json.loads(text)
    return data


def test_public_client_signs_in_through_the_browser(
    browser: Browser, servers: tuple[str, str], artifacts: Path
) -> None:
    """RFC 7636 + RFC 9207 end to end: login and consent pages, code with state and iss, CORS token exchange,
    then SSO: a second sign-in comes straight back without any page."""
    issuer, app_url = servers
    context = browser.new_context(viewport={"width": 800, "height": 720})
    page = context.new_page()
    page.goto(app_url + "/")
    page.click("#signin")

    page.wait_for_url(f"{issuer}/login?*")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.screenshot(path=str(artifacts / "login.png"), full_page=True)

    page.fill("#username", "alice")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".alert")).to_have_text("Invalid username or password.")
    page.screenshot(path=str(artifacts / "login-failed.png"), full_page=True)

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{issuer}/consent?*")
    expect(page.locator(".scopes")).to_contain_text("View your properties")
    page.screenshot(path=str(artifacts / "consent.png"), full_page=True)
    page.click("button[value=approve]")

    page.wait_for_url(f"{app_url}/cb?*")
    expect(page.locator("#result")).to_contain_text("status")
    result = _result(page)
    assert result["status"] == 200
    body = result["body"]
    assert isinstance(body, dict) and body["token_type"] == "Bearer" and body["scope"] == "properties:read"
    jwks = httpx.get(f"{issuer}/jwks.json").json()
    claims = jws.verify_jwt(str(body["access_token"]), jwks).claims
    assert claims["iss"] == issuer and claims["client_id"] == "e2e-spa"
    page.screenshot(path=str(artifacts / "callback.png"), full_page=True)

    # SSO: live session + remembered consent → straight back with a new code, no login or consent page.
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.goto(app_url + "/")
    page.click("#signin")
    page.wait_for_url(f"{app_url}/cb?*")
    expect(page.locator("#result")).to_contain_text("status")
    assert _result(page)["status"] == 200
    assert not any("/login" in url or "/consent" in url for url in visited), visited
    context.close()
