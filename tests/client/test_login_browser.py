"""``pixie login`` gets tokens from a real browser session: the command runs as a subprocess with ``--no-browser``,
headless Chromium opens the URL it prints, signs alice in, approves consent and lands on the loopback page (issue 5,
"done when")."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from client.support import LoginProcess
from e2e.conftest import ARTIFACTS, browser  # noqa: F401  (the module-scoped Chromium fixture)
from livesupport import cli_env
from pixie.resource import jws
from spec.support import PASSWORDS, Pixie


def test_pixie_login_through_chromium(browser: Browser, pixie: Pixie, tmp_path: Path) -> None:  # noqa: F811
    """RFC 8252 §7.3 end to end: login form, consent form, redirect to ``http://127.0.0.1:{port}/callback``, the
    "you can close this window" page, and the token response printed by the command, its access token verified."""
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    args = ["--issuer", pixie.issuer, "--client-id", "cli-browser", "--scope", "properties:read", "--no-browser"]
    process = LoginProcess([*args, "--timeout", "60"], env)
    url = process.authorization_url()

    context = browser.new_context(viewport={"width": 800, "height": 640})
    try:
        page = context.new_page()
        page.goto(url)
        expect(page.locator("h1")).to_have_text("Sign in")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORDS["alice"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{pixie.base}/consent?*")
        page.click("button[value=approve]")
        page.wait_for_url("http://127.0.0.1:*/callback?*")
        expect(page.locator("h1")).to_have_text("Signed in")
        expect(page.locator("#close-hint")).to_contain_text("You can close this window")
        artifacts = ARTIFACTS.parent / "client"
        artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(artifacts / "login-done.png"), full_page=True)
    finally:
        context.close()

    code, stdout, stderr = process.finish()
    assert code == 0, stderr
    printed = json.loads(stdout)
    assert printed["token_type"] == "Bearer" and printed["scope"] == "properties:read" and printed["refresh_token"]
    claims = jws.verify_jwt(printed["access_token"], httpx.get(f"{pixie.base}/jwks.json").json()).claims
    assert claims["client_id"] == "cli-browser" and claims["sub"] == pixie.user_ids["alice"]
