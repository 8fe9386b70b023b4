"""panva's openid-client (a certified OpenID relying party, npm) signs a user in at Pixie through real headless
Chromium: discovery, code flow with PKCE, nonce and state, its own ID token validation, userinfo, a silent sign-in
with ``response_mode=form_post``, then RP-Initiated Logout back to the application — after which the Pixie session
is gone.

Spec: OpenID Connect Core 1.0 §3.1, §5.3; Discovery 1.0 §4; RP-Initiated Logout 1.0 §2, §3; OAuth 2.0 Form Post
Response Mode §2.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import Profile, create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
MASTER = b"openid-client-interop-master-32b"
PASSWORD = "carol-oidc-interop-pw"


async def _seed(database_url: str, rp_port: int) -> str:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER))
        await register_client(
            storage,
            "default",
            "node-rp",
            redirect_uris=[f"http://127.0.0.1:{rp_port}/cb"],
            post_logout_redirect_uris=[f"http://127.0.0.1:{rp_port}/bye"],
            public=True,
        )
        profile = Profile(name="Carol Ng", given_name="Carol", family_name="Ng", email="carol@example.com")
        user = await create_user(storage, "default", "carol", PASSWORD, profile=profile)
        return user.user_id


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """Pixie on loopback, and the openid-client web app registered with it: (issuer, app URL, alice's sub)."""
    if not (HERE / "node_modules" / "openid-client").is_dir():
        pytest.fail("tests/interop/node_modules is missing: `make test` runs `npm ci` there")
    rp_port, port = free_port(), free_port()
    database_url = f"sqlite:///{tmp_path_factory.mktemp('openid-client') / 'pixie.db'}"
    sub = run_coroutine(_seed(database_url, rp_port))
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER)
    with serve_pixie(settings) as issuer:
        app = subprocess.Popen(
            ["node", str(HERE / "oidc_rp.mjs"), issuer, "node-rp", str(rp_port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert app.stdout is not None
            line = app.stdout.readline()
            assert line.strip() == "ready", (line, app.stderr.read() if app.stderr else "")
            yield issuer, f"http://127.0.0.1:{rp_port}", sub
        finally:
            app.terminate()
            app.communicate(timeout=10)  # reaps it and closes both pipes


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            yield browser
        finally:
            browser.close()


def _result(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(page.locator("#result").inner_text())
    return data


def test_openid_client_signs_in_reads_userinfo_and_logs_out(chromium: Browser, setup: tuple[str, str, str]) -> None:
    issuer, app, sub = setup
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{app}/login")
    page.wait_for_url(f"{issuer}/login?*")
    page.fill("#username", "carol")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{issuer}/consent?*")
    page.click("button[value=approve]")
    page.wait_for_url(f"{app}/cb?*")
    result = _result(page)
    assert "error" not in result, result
    claims, userinfo = result["claims"], result["userinfo"]
    assert claims["iss"] == issuer and claims["aud"] == "node-rp" and claims["sub"] == sub
    assert isinstance(claims["nonce"], str) and claims["amr"] == ["pwd"] and claims["sid"]
    assert userinfo == {
        "sub": sub,
        "name": "Carol Ng",
        "given_name": "Carol",
        "family_name": "Ng",
        "preferred_username": "carol",
        "email": "carol@example.com",
        "email_verified": False,
    }

    assert result["method"] == "GET"

    # response_mode=form_post: Pixie's page posts the response to the app (its script, under its CSP, in Chromium).
    page.goto(f"{app}/login?mode=form_post&prompt=none")
    page.wait_for_url(f"{app}/cb")
    posted = _result(page)
    assert posted["method"] == "POST" and posted["claims"]["sub"] == sub, posted
    assert posted["claims"]["sid"] == claims["sid"]

    page.click("#logout")  # openid-client's end-session URL with the ID token as hint
    page.wait_for_url(f"{app}/bye?*")
    assert _result(page) == {"signedOut": True}

    # The Pixie session ended: a silent sign-in now fails with login_required, at openid-client's callback.
    page.goto(f"{app}/login?prompt=none")
    page.wait_for_url(f"{app}/cb?*")
    assert "login_required" in json.dumps(_result(page))
    context.close()
