"""The dashboard as people see it, in headless Chromium at 390, 1,024 and 1,440 px: a week of sign-ins, then checks
that hold at every width and range (screenshots kept in ``test-artifacts/e2e``):

- the page never scrolls sideways, and no text is smaller than 12 px;
- the cards sit in whole rows (2, 3 or 6 per row), the charts in one or two columns;
- the time axis's labels never overlap, and the count axis has whole numbers only;
- the cards and the charts show the same snapshot (the funnel's first and last rows are the cards' numbers), and
  the administrator's own sign-in is not counted;
- a range with nothing in it says so, in the cards and in every chart;
- ``/admin?range=7d`` is still the 7-day view after signing in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import create_tenant, create_user, register_client
from pixie.server.app import open_backend
from pixie.storage.records import Event
from spec.support import SPA_CB

MASTER = b"dashboard-layout-master-key-32b!"
ADMIN_PASSWORD = "root-password-for-the-layout"
WIDTHS = (390, 1024, 1440)
CARDS_PER_ROW = {390: 2, 1024: 3, 1440: 6}
CHART_COLUMNS = {390: 1, 1024: 2, 1440: 2}


def _week_of_events(now: float) -> list[Event]:
    """Flows spread over the last week: most complete, some fail at login, some at the token endpoint; refreshes
    and a reuse detection now and then. Deterministic, so screenshots compare."""
    events: list[Event] = []
    for index in range(60):
        start = now - 7 * 86400 + 600 + index * (7 * 86400 - 1200) / 60 + (index % 5) * 1700
        flow = f"flow-{index}"

        def add(
            kind: str, at: float, outcome: str = "success", start: float = start, flow: str = flow, **detail: Any
        ) -> None:
            error = detail.pop("error", None)
            events.append(Event("default", kind, outcome, start + at, "spa", error, None, flow, detail))

        add("authorization_requested", 0)
        if index % 7 == 3:
            add("login_failed", 5, "failure", error="invalid_credentials")
            continue
        add("login_succeeded", 8)
        add("consent_granted", 10)
        add("code_issued", 11)
        if index % 11 == 5:
            reason = "code_verifier does not match the code_challenge"
            add("token_issued", 12, "failure", error="invalid_grant", grant_type="authorization_code", reason=reason)
            continue
        add("token_issued", 12, grant_type="authorization_code")
        for refresh in range(index % 3):
            add("refresh_rotated", 600 + refresh * 300)
        if index % 13 == 6:
            add("refresh_reuse_detected", 1500, "failure", error="invalid_grant", family_id="f")
    # The last hour gets a few flows of its own, so the 1h view has data too.
    for index in range(4):
        flow, start = f"recent-{index}", now - 3000 + index * 600
        events += [
            Event("default", "authorization_requested", "success", start, "spa", None, None, flow, {}),
            Event("default", "login_succeeded", "success", start + 3, "spa", None, None, flow, {}),
            Event("default", "consent_granted", "success", start + 4, "spa", None, None, flow, {}),
            Event("default", "code_issued", "success", start + 5, "spa", None, None, flow, {}),
            Event(
                "default",
                "token_issued",
                "success",
                start + 6,
                "spa",
                None,
                None,
                flow,
                {"grant_type": "authorization_code"},
            ),
        ]
    return events


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import time

    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('layout') / 'dashboard.db'}",
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER,
        audit_log=None,
    )

    async def seed() -> None:
        async with open_backend(settings) as (storage, keyring):
            await register_client(
                storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=["properties:read"]
            )
            await create_user(storage, "default", "root", ADMIN_PASSWORD, roles=["admin"])
            await create_tenant(storage, keyring, "quiet", settings=None)
            await storage.events.append(_week_of_events(time.time()))

    run_coroutine(seed())
    with serve_pixie(settings) as url:
        yield url


def _sign_in(page: Page, base: str, path: str) -> None:
    page.goto(base + path)
    page.wait_for_url(re.compile(r".*/login\?.*"))
    page.fill("#username", "root")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(consent|admin)\b.*"))
    if "/consent" in page.url:  # the first time only: the consent is remembered
        page.click("button[value=approve]")


_MEASURE = """() => {
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden'
      && getComputedStyle(el).display !== 'none';
  const small = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (own && visible(el) && parseFloat(getComputedStyle(el).fontSize) < 12) {
      small.push(el.tagName + ': ' + el.textContent.trim().slice(0, 40) + ' ' + getComputedStyle(el).fontSize);
    }
  }
  const overlaps = [];
  for (const figure of document.querySelectorAll('figure.chart')) {
    const ticks = [...figure.querySelectorAll('text.tick')].filter(visible).map((t) => t.getBoundingClientRect())
        .sort((a, b) => a.left - b.left);
    for (let i = 1; i < ticks.length; i++) {
      if (ticks[i].left < ticks[i - 1].right + 2) overlaps.push(figure.dataset.chart);
    }
    const box = figure.getBoundingClientRect();
    for (const t of figure.querySelectorAll('text')) {
      if (!visible(t)) continue;
      const r = t.getBoundingClientRect();
      if (r.left < box.left - 1 || r.right > box.right + 1) {
        overlaps.push(figure.dataset.chart + ' outside: ' + t.textContent);
      }
    }
  }
  const tops = (selector) => [...document.querySelectorAll(selector)]
      .map((e) => Math.round(e.getBoundingClientRect().top));
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, small, overlaps,
    cardTops: tops('.kpis li'), chartTops: tops('.charts figure'),
    yLabels: [...document.querySelectorAll('.y-axis text')].map((t) => t.textContent),
  };
}"""


def _per_row(tops: list[int]) -> int:
    return tops.count(tops[0])


def _kpis(page: Page) -> dict[str, str]:
    labels, values = page.locator(".kpis .label").all_inner_texts(), page.locator(".kpis .value").all_inner_texts()
    return dict(zip(labels, values, strict=True))


def _funnel_rows(page: Page) -> dict[str, str]:
    texts = page.locator("figure[data-chart=funnel] svg.plot text").all_text_contents()
    return dict(zip(texts[0::2], texts[1::2], strict=True))


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_holds_at_every_width_and_range(browser: Browser, base: str, artifacts: Path, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    _sign_in(page, base, "/admin?range=7d")
    page.wait_for_url(f"{base}/admin?range=7d")  # the range survived the sign-in
    expect(page.locator(".ranges a.current")).to_have_text("7d")
    for range_name in ("7d", "24h", "1h"):
        if range_name != "7d":
            page.goto(f"{base}/admin?range={range_name}")
        expect(page.locator("h1")).to_have_text("Flow analytics")
        page.screenshot(path=str(artifacts / f"dashboard-{range_name}-{width}.png"), full_page=True)
        measured = page.evaluate(_MEASURE)
        where = f"{range_name} at {width}px"
        assert measured["scrollWidth"] <= measured["innerWidth"], f"{where}: the page scrolls sideways"
        assert measured["small"] == [], f"{where}: text under 12 px: {measured['small']}"
        assert measured["overlaps"] == [], f"{where}: labels collide: {measured['overlaps']}"
        assert _per_row(measured["cardTops"]) == CARDS_PER_ROW[width], (where, measured["cardTops"])
        assert len(measured["cardTops"]) == 6
        assert _per_row(measured["chartTops"]) == CHART_COLUMNS[width], (where, measured["chartTops"])
        labels = measured["yLabels"]
        assert labels and all(re.fullmatch(r"\d+", label) for label in labels), (where, labels)
        kpis, funnel = _kpis(page), _funnel_rows(page)
        assert funnel["requested"] == kpis["flows started"], (where, funnel, kpis)
        assert funnel["token issued"] == kpis["flows completed"], (where, funnel, kpis)
        # Only the seeded flows: the administrator's own sign-in (just now) is not among them.
        expected = {"7d": "64", "24h": None, "1h": "4"}[range_name]
        if expected is not None:
            assert kpis["flows started"] == expected, (where, kpis)
        expect(page.locator(".notice")).to_have_count(0)
    context.close()


def test_an_empty_range_says_so(browser: Browser, base: str, artifacts: Path) -> None:
    """A tenant without events: the notice, dashes instead of rates, and every chart with its no-data message."""
    context = browser.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    _sign_in(page, base, "/admin?tenant=quiet&range=24h")
    page.wait_for_url(f"{base}/admin?range=24h&tenant=quiet")
    expect(page.locator(".notice")).to_contain_text("No data yet")
    kpis = _kpis(page)
    assert kpis["flows started"] == "0" and kpis["completion rate"] == "–", kpis
    assert page.locator("figure.chart.is-empty").count() == 4
    for figure in page.locator("figure.chart").all():
        expect(figure.locator("text.empty")).to_have_count(1)
    measured = page.evaluate(_MEASURE)
    assert measured["small"] == [] and measured["overlaps"] == []
    assert measured["scrollWidth"] <= measured["innerWidth"]
    page.screenshot(path=str(artifacts / "dashboard-empty-390.png"), full_page=True)
    context.close()
