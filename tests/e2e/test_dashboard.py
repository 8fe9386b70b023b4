"""The analytics dashboard in headless Chromium, after a scripted mix of good and bad sign-ins (issue 8).

An administrator signs in to ``/admin`` through Pixie itself (authorize → login → consent → code with PKCE), sees the
funnel and the failure reasons as charts, and the screenshots are kept as test artifacts. A user without the
admin role gets through the same flow but is refused the dashboard. A page on another port of the same host (same
site: the browser sends the SameSite=Lax session cookie along) cannot end the session.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from livesupport import cli_env, free_port, run_coroutine, run_pixie, serve_in_thread, serve_pixie
from pixie.config import Settings
from pixie.management import create_user, register_client
from pixie.server.app import open_backend
from spec.support import SPA_CB, Pixie, Pkce, authorize_pairs, redirect_params, token_request
from spec.support import Browser as HttpBrowser

MASTER = b"dashboard-e2e-master-key-32bytes"
ADMIN_PASSWORD = "root-password-for-the-dashboard"
ALICE_PASSWORD = "alice-password-for-the-dashboard"


def _sign_in_over_http(pixie: Pixie, *, wrong_first: bool, bad_verifier: bool) -> None:
    """One alice flow through the spa client, optionally with a failed login first or a PKCE mismatch at the end."""
    with HttpBrowser(pixie) as browser:
        pkce = Pkce.new()
        page = browser.login_page(authorize_pairs(challenge=pkce.challenge))
        if wrong_first:
            page = browser.submit_login(page, "alice", "not-alices-password")
            assert page.status_code == 200
        response = browser.submit_login(page, "alice", ALICE_PASSWORD)
        if response.headers["location"].split("?")[0].endswith("/consent"):
            response = browser.submit_consent(browser.follow(response, "/consent"))
        code = redirect_params(response, SPA_CB)["code"]
        with pixie.client() as http:
            verifier = Pkce.new().verifier if bad_verifier else pkce.verifier
            answer = token_request(http, code, verifier)
            assert answer.status_code == (400 if bad_verifier else 200), answer.text
            if not bad_verifier:
                refresh = answer.json()["refresh_token"]
                data = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "spa"}
                assert http.post("/token", data=data).status_code == 200
                assert http.post("/token", data=data).json()["error"] == "invalid_grant"  # reuse


@pytest.fixture
def pixie(tmp_path: Path) -> Iterator[Pixie]:
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'dashboard.db'}",
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER,
        audit_log=None,
    )

    async def seed() -> None:
        async with open_backend(settings) as (storage, _):
            await register_client(
                storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=["properties:read"]
            )
            await create_user(storage, "default", "root", ADMIN_PASSWORD, roles=["admin"])
            await create_user(storage, "default", "alice", ALICE_PASSWORD)

    run_coroutine(seed())
    with serve_pixie(settings) as base:
        yield Pixie(base=base, db_path=tmp_path / "dashboard.db")


def _admin_sign_in(page: Page, pixie: Pixie, username: str, password: str) -> None:
    page.goto(pixie.base + "/admin")
    page.wait_for_url(re.compile(r".*/login\?.*"))
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/consent\?.*"))
    expect(page.locator("code", has_text="pixie:admin")).to_be_visible()
    page.click("button[value=approve]")


def _kpis(page: Page) -> dict[str, str]:
    labels, values = page.locator(".kpis .label").all_inner_texts(), page.locator(".kpis .value").all_inner_texts()
    return dict(zip(labels, values, strict=True))


def test_admin_sees_the_funnel_and_failure_reasons(browser: Browser, pixie: Pixie, artifacts: Path) -> None:
    _sign_in_over_http(pixie, wrong_first=True, bad_verifier=False)
    _sign_in_over_http(pixie, wrong_first=False, bad_verifier=False)
    _sign_in_over_http(pixie, wrong_first=False, bad_verifier=True)

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    _admin_sign_in(page, pixie, "root", ADMIN_PASSWORD)
    page.wait_for_url(f"{pixie.base}/admin")
    expect(page.locator("h1")).to_have_text("Flow analytics")

    kpis = _kpis(page)
    # Three alice flows; two finished. The administrator's own sign-in, finishing as the page renders, is not one of
    # them: on the first view as on any later one.
    assert kpis["flows started"] == "3", kpis
    assert kpis["flows completed"] == "2", kpis
    assert kpis["reuse detections"] == "2", kpis
    assert kpis["refresh rotations"] == "2", kpis
    page.wait_for_timeout(800)  # the admin's own events are stored by now
    page.reload()
    assert _kpis(page) == kpis

    assert page.locator("figure.chart svg.plot").count() == 4  # drawn inline, from the cards' own summary
    page.screenshot(path=str(artifacts / "dashboard-24h.png"), full_page=True)

    failures_src = page.locator("figure[data-chart=failures] a.chart-link").get_attribute("href")
    assert failures_src is not None
    svg = page.request.get(pixie.base + failures_src)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    text = svg.text()
    for reason in ("wrong username or password", "PKCE mismatch", "refresh token reuse"):
        assert reason in text, reason
    funnel = page.request.get(pixie.base + failures_src.replace("failures", "funnel")).text()
    assert "token issued" in funnel and "requested" in funnel

    # `pixie stats` reads the same events through the same summary: the same numbers.
    database_url = f"sqlite:///{pixie.db_path}"
    env = cli_env(pixie.db_path.parent, database_url, {"PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER).decode()})
    result = run_pixie(["stats", "--json"], env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["funnel"]["requested"] == int(kpis["flows started"])
    assert printed["funnel"]["token issued"] == int(kpis["flows completed"])
    assert printed["refresh_reuse_detected"] == int(kpis["reuse detections"])
    assert printed["failure_reasons"] == {"refresh token reuse": 2, "wrong username or password": 1, "PKCE mismatch": 1}
    table = run_pixie(["stats", "--range", "1h"], env)
    assert table.returncode == 0 and "PKCE mismatch" in table.stdout and "Sign-in funnel" in table.stdout

    page.click(".ranges a:text('1h')")
    page.wait_for_url(re.compile(r".*range=1h.*"))
    page.screenshot(path=str(artifacts / "dashboard-1h.png"), full_page=True)
    page.click(".signout button")
    expect(page.locator("h1")).to_have_text("Signed out")
    context.close()


def test_a_user_without_the_admin_role_is_refused(browser: Browser, pixie: Pixie, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    page.goto(pixie.base + "/admin")
    page.wait_for_url(re.compile(r".*/login\?.*"))
    page.fill("#username", "alice")
    page.fill("#password", ALICE_PASSWORD)
    page.click("button[type=submit]")
    # pixie:admin is gated by role: alice may receive no requested scope, so the flow ends in access_denied.
    expect(page.locator("h1")).to_have_text(re.compile("Administrators only|cannot be completed"))
    page.screenshot(path=str(artifacts / "dashboard-refused.png"), full_page=True)
    context.close()
    with httpx.Client(base_url=pixie.base) as http:
        assert http.get("/admin/charts/funnel.svg").status_code == 401
        assert http.get("/admin", follow_redirects=False).status_code == 303


def _forged_logout_page(target: str) -> Starlette:
    """Another site's page (on another port of 127.0.0.1) with a form that posts to ``target``; ``/no-referrer``
    also hides its origin (the browser then sends ``Origin: null``)."""

    async def page(request: Request) -> HTMLResponse:
        policy = request.path_params["policy"]
        return HTMLResponse(
            f'<!doctype html><html><head><meta name="referrer" content="{policy}"></head><body>'
            f'<form method="post" action="{target}"><button type="submit">win a prize</button></form></body></html>'
        )

    return Starlette(routes=[Route("/{policy}", page)])


def test_a_page_on_another_port_cannot_end_the_dashboard_session(browser: Browser, pixie: Pixie) -> None:
    """RFC 6454 §5, RFC 9700 §4.7: a same-site page on another port posts to ``/admin/logout`` with the session
    cookie attached; whether it shows its origin or hides it (``Origin: null``, ``Sec-Fetch-Site: same-site``),
    the request is refused on our page and the session survives; the dashboard's own button still signs out."""
    context = browser.new_context()
    page = context.new_page()
    _admin_sign_in(page, pixie, "root", ADMIN_PASSWORD)
    page.wait_for_url(f"{pixie.base}/admin")
    with serve_in_thread(_forged_logout_page(f"{pixie.base}/admin/logout"), free_port()) as elsewhere:
        for policy in ("strict-origin-when-cross-origin", "no-referrer"):
            page.goto(f"{elsewhere}/{policy}")
            page.click("button")
            expect(page.locator("h1")).to_have_text("This request cannot be completed")
            page.goto(pixie.base + "/admin")
            expect(page.locator("h1")).to_have_text("Flow analytics")
    [session] = [c["value"] for c in context.cookies(pixie.base) if c["name"] == "pixie-admin"]
    page.click(".signout button")  # the browser posts it with Origin: null and Sec-Fetch-Site: same-origin
    expect(page.locator("h1")).to_have_text("Signed out")
    context.close()
    with httpx.Client(base_url=pixie.base, cookies={"pixie-admin": session}) as replay:
        assert replay.get("/admin").status_code == 303  # that session is over: a new sign-in starts
