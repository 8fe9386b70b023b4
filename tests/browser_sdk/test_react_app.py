"""The browser packages as a user's app gets them: a React 19 app (``app/src/main.tsx``, React StrictMode on, the
development build so that every effect runs twice) built by the Makefile against the packed ``@pixie-oauth/browser``
and ``@pixie-oauth/react`` tarballs, served on its own loopback port, driven in Debian's Chromium against
``pixie serve``, calling Pixie-protected APIs on other origins (``pixie gateway --cors-origin``).

One tenant: sign in (the URL the user started from comes back, one code exchange despite strict mode), call the API
cross-origin, reload (silent sign-in, no password), sign out (revoked; the next load stays signed out). Two tenants on
one page: each signs in with its own user and calls its own API, a reload brings both back, signing out of one leaves
the other. Tokens are never stored.

Spec: RFC 7636 (PKCE), RFC 9207 (``iss``), RFC 6749 §4.1, RFC 7009 (revocation), OpenID Connect Core §3.1.2.1
(``prompt=none``), Fetch Standard §3.2 (CORS).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, expect
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from livesupport import cli_env, free_port, pixie_process, run_pixie, serve_in_thread

APP = Path(__file__).resolve().parent / "app"
BUILT = APP / "dist" / "app.js"
AUDIENCE = "urn:pixie:test:property-api"
SCOPE = "openid properties:read"
"""What the app asks for: ``openid`` brings an ID token (its claims become ``user``); the APIs need the other."""
API_SCOPE = "properties:read"
USERS = {"default": ("alice", "alice-react-password"), "globex": ("gina", "gina-react-password")}
STORAGE_DUMP = "() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})"


@dataclass
class World:
    issuer: str
    single: str
    """The app with one tenant (the default one)."""
    multi: str
    """The app with two tenants side by side (default and globex)."""
    sender: str
    """The one-tenant app with DPoP-bound tokens and pushed authorization requests."""
    apis: dict[str, str] = field(default_factory=dict)


def _app(config: dict[str, Any]) -> Starlette:
    """The built React app: /app.js, /config.json, and index.html for every other path (the callback included)."""
    index = (APP / "index.html").read_bytes()

    async def script(request: HttpRequest) -> Response:
        return FileResponse(BUILT, media_type="text/javascript")

    async def settings(request: HttpRequest) -> Response:
        return JSONResponse(config)

    async def page(request: HttpRequest) -> Response:
        return Response(index, media_type="text/html")

    return Starlette(
        routes=[
            Route("/app.js", script),
            Route("/config.json", settings),
            Route("/{path:path}", page),
        ]
    )


async def whoami(request: HttpRequest) -> Response:
    """The protected API behind the gateways: says whom the gateway let through."""
    return JSONResponse({"sub": request.headers.get("x-pixie-sub"), "scope": request.headers.get("x-pixie-scope")})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not BUILT.exists():
        pytest.fail(f"{BUILT} is missing: `make test` (or `make js`) builds it from the packed tarballs")
    root = tmp_path_factory.mktemp("browser-sdk")
    env = cli_env(root, f"sqlite:///{root / 'pixie.db'}", {"PIXIE_SECRET_KEY": "R" * 43})
    port, single_port, multi_port, sender_port = free_port(), free_port(), free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    single, multi = f"http://127.0.0.1:{single_port}", f"http://127.0.0.1:{multi_port}"
    sender = f"http://127.0.0.1:{sender_port}"
    upstream = Starlette(routes=[Route("/{path:path}", whoami)])
    with (
        pixie_process(["serve", "--port", str(port)], env, f"{issuer}/healthz"),
        serve_in_thread(upstream, free_port()) as upstream_base,
    ):
        _cli(env, "tenants", "create", "globex")
        for tenant, uris in (("default", [single, multi, sender]), ("globex", [multi])):
            redirects = [arg for origin in uris for arg in ("--redirect-uri", f"{origin}/callback")]
            redirects += [arg for origin in uris for arg in ("--post-logout-redirect-uri", f"{origin}/signed-out")]
            _cli(
                env,
                "clients",
                "create",
                "react-app",
                "--tenant",
                tenant,
                "--public",
                *redirects,
                "--scope",
                SCOPE,
                "--audience",
                AUDIENCE,
            )
            username, password = USERS[tenant]
            _cli(env, "users", "create", username, "--tenant", tenant, "--password-stdin", stdin=password + "\n")
        apis: dict[str, str] = {}
        gateways = []
        for tenant in ("default", "globex"):
            gateway_port = free_port()
            tenant_issuer = issuer if tenant == "default" else f"{issuer}/t/{tenant}"
            gateways.append(
                pixie_process(
                    [
                        *("gateway", "--upstream", upstream_base, "--issuer", tenant_issuer),
                        *("--audience", AUDIENCE, "--require-scope", API_SCOPE, "--port", str(gateway_port)),
                        *("--cors-origin", single, "--cors-origin", multi, "--cors-origin", sender),
                    ],
                    env,
                    f"http://127.0.0.1:{gateway_port}/",
                )
            )
            apis[tenant] = f"http://127.0.0.1:{gateway_port}"
        tenants = {"default": issuer, "globex": f"{issuer}/t/globex"}
        configs = {
            single: [{"name": "default", "issuer": issuer, "api": apis["default"]}],
            multi: [{"name": name, "issuer": tenants[name], "api": apis[name]} for name in ("default", "globex")],
            sender: [{"name": "default", "issuer": issuer, "api": apis["default"]}],
        }
        with gateways[0], gateways[1]:
            extra: dict[str, dict[str, bool]] = {sender: {"dpop": True, "par": True}}
            servers = [
                serve_in_thread(
                    _app(
                        {
                            "clientId": "react-app",
                            "redirectUri": f"{origin}/callback",
                            "scope": SCOPE,
                            "tenants": t,
                            **extra.get(origin, {}),
                        }
                    ),
                    int(origin.rsplit(":", 1)[1]),
                )
                for origin, t in configs.items()
            ]
            with servers[0], servers[1], servers[2]:
                yield World(issuer=issuer, single=single, multi=multi, sender=sender, apis=apis)


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    result = run_pixie(list(args), env, stdin=stdin)
    assert result.returncode == 0, (args, result.stderr)


@dataclass
class Traffic:
    """What the page sent to Pixie: token requests by grant type, /authorize navigations, revocations."""

    token_grants: list[str] = field(default_factory=list)
    authorize: list[dict[str, list[str]]] = field(default_factory=list)
    revocations: int = 0
    errors: list[str] = field(default_factory=list)

    def record(self, request: Request) -> None:
        path = urlsplit(request.url).path
        if request.method == "POST" and path.endswith("/token"):
            self.token_grants.append(parse_qs(request.post_data or "")["grant_type"][0])
        elif request.method == "POST" and path.endswith("/revoke"):
            self.revocations += 1
        elif request.is_navigation_request() and path.endswith("/authorize"):
            self.authorize.append(parse_qs(urlsplit(request.url).query))

    def reset(self) -> None:
        self.token_grants.clear()
        self.authorize.clear()
        self.revocations = 0


def _open(browser: Browser) -> tuple[Page, Traffic]:
    context = browser.new_context()
    context.clock.install()  # the page's timers, so that a token refresh can be brought forward
    page = context.new_page()
    traffic = Traffic()
    page.on("request", traffic.record)
    page.on("pageerror", lambda error: traffic.errors.append(str(error)))
    # The browser's own favicon.ico probe on Pixie's sign-in pages is not the app's.
    page.on(
        "console",
        lambda m: (
            traffic.errors.append(f"{m.text} {m.location['url']}")
            if m.type == "error" and not m.location["url"].endswith("/favicon.ico")
            else None
        ),
    )
    return page, traffic


def _panel(page: Page, tenant: str) -> Any:
    return page.locator(f"section[data-tenant={tenant}]")


def _sign_in_at_pixie(page: Page, issuer: str, tenant: str, back_to: str) -> None:
    """On Pixie's pages: sign in as the tenant's user (and allow, if asked), until the browser is back at the app."""
    username, password = USERS[tenant]
    page.wait_for_url(f"{issuer}/**")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.startswith(back_to) or "/consent?" in url)
    if "/consent?" in page.url:  # asked once per user, client and scopes: remembered after
        page.click("button[value=approve]")
        page.wait_for_url(f"{back_to}/**")


def _call_api(page: Page, tenant: str) -> dict[str, Any]:
    panel = _panel(page, tenant)
    panel.locator("button.call").click()
    expect(panel.locator(".result")).not_to_have_text("")
    status, _, body = panel.locator(".result").inner_text().partition(" ")
    assert status == "200", body
    answer: dict[str, Any] = json.loads(body)
    assert answer["scope"] == SCOPE and answer["sub"]  # the gateway's X-Pixie-Scope: sorted
    return answer


def _assert_nothing_stored(page: Page) -> None:
    """RFC 9700 §4.13: tokens in memory only; the one thing kept is the signed-in flag."""
    dump = page.evaluate(STORAGE_DUMP)
    assert "eyJ" not in dump and "access_token" not in dump and "refresh_token" not in dump, dump


def test_one_tenant_sign_in_api_reload_sign_out(browser: Browser, world: World) -> None:
    page, traffic = _open(browser)
    start = f"{world.single}/start?view=properties#here"
    page.goto(start)
    panel = _panel(page, "default")
    expect(panel.locator(".status")).to_have_text("signed-out")
    assert traffic.authorize == []  # never signed in here: no silent round trip

    traffic.reset()
    panel.locator("button.signin").click()
    page.wait_for_url(f"{world.issuer}/login?*")
    page.go_back()  # changed their mind: back at the app (reloaded, or restored from the back/forward cache)
    expect(panel.locator(".status")).to_have_text("signed-out")

    # Denied at the consent page: the app gets the OAuthError (status "error") and its own URL back.
    panel.locator("button.signin").click()
    username, password = USERS["default"]
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.issuer}/consent?*")
    page.click("button[value=deny]")
    expect(panel.locator(".status")).to_have_text("error")
    expect(panel.locator(".error")).to_have_text("OAuthError access_denied")
    assert page.url == start and traffic.token_grants == []

    panel.locator("button.signin").click()  # signed in at Pixie now: straight to the consent page
    page.wait_for_url(f"{world.issuer}/consent?*")
    page.click("button[value=approve]")
    expect(panel.locator(".status")).to_have_text("signed-in")
    assert page.url == start  # the callback URL (and its code) replaced by where the user started
    assert traffic.token_grants == ["authorization_code"]  # strict mode ran the effects twice: one exchange
    assert traffic.authorize[0]["code_challenge_method"] == ["S256"]
    expect(panel.locator(".scopes")).to_have_text(SCOPE)
    expect(panel.locator(".can-read")).to_have_text("true")
    first = _call_api(page, "default")
    expect(panel.locator(".user")).to_have_text(first["sub"])  # the ID token's sub: the API's caller

    traffic.reset()
    page.reload()
    expect(panel.locator(".status")).to_have_text("signed-in")
    assert [query["prompt"] for query in traffic.authorize] == [["none"]]  # silent: no password asked
    assert traffic.token_grants == ["authorization_code"]
    assert page.url == start
    assert _call_api(page, "default")["sub"] == first["sub"]
    _assert_nothing_stored(page)

    # A minute before the access token expires it is refreshed, and the component re-renders with the new one.
    traffic.reset()
    expires = panel.locator(".expires").inner_text()
    page.clock.fast_forward("04:30")
    expect(panel.locator(".expires")).not_to_have_text(expires)
    assert traffic.token_grants == ["refresh_token"]
    expect(panel.locator(".status")).to_have_text("signed-in")
    expect(panel.locator(".user")).to_have_text(first["sub"])  # a refreshed ID token names the same user
    assert _call_api(page, "default")["sub"] == first["sub"]

    # silent={false}: a page load that must not leave for the authorization server stays signed out.
    traffic.reset()
    page.goto(f"{world.single}/quiet?silent=0")
    expect(panel.locator(".status")).to_have_text("signed-out")
    assert traffic.authorize == [] and traffic.token_grants == []
    page.goto(start)
    expect(panel.locator(".status")).to_have_text("signed-in")
    assert [query["prompt"] for query in traffic.authorize] == [["none"]]

    traffic.reset()
    panel.locator("button.signout").click()
    expect(panel.locator(".status")).to_have_text("signed-out")
    assert traffic.revocations == 1
    page.reload()
    expect(panel.locator(".status")).to_have_text("signed-out")
    assert traffic.authorize == []  # signed out: no silent attempt on the next load
    assert traffic.errors == []


def test_two_tenants_on_one_page(browser: Browser, world: World) -> None:
    page, traffic = _open(browser)
    page.goto(f"{world.multi}/")
    default, globex = _panel(page, "default"), _panel(page, "globex")
    expect(default.locator(".status")).to_have_text("signed-out")
    expect(globex.locator(".status")).to_have_text("signed-out")

    default.locator("button.signin").click()
    _sign_in_at_pixie(page, world.issuer, "default", world.multi)
    expect(default.locator(".status")).to_have_text("signed-in")
    expect(globex.locator(".status")).to_have_text("signed-out")

    # Signing in to globex leaves the page: on the way back the default tenant is signed in again silently, and
    # both codes are redeemed on the last callback.
    traffic.reset()
    globex.locator("button.signin").click()
    _sign_in_at_pixie(page, world.issuer, "globex", world.multi)
    expect(globex.locator(".status")).to_have_text("signed-in")
    expect(default.locator(".status")).to_have_text("signed-in")
    assert page.url == f"{world.multi}/"
    assert sorted(traffic.token_grants) == ["authorization_code", "authorization_code"]
    assert [query.get("prompt") for query in traffic.authorize] == [None, ["none"]]
    alice, gina = _call_api(page, "default"), _call_api(page, "globex")
    assert alice["sub"] != gina["sub"]  # each tenant's token reached its own API, for its own user
    expect(default.locator(".user")).to_have_text(alice["sub"])  # and each tenant's ID token names its own user
    expect(globex.locator(".user")).to_have_text(gina["sub"])

    traffic.reset()
    page.reload()
    expect(default.locator(".status")).to_have_text("signed-in")
    expect(globex.locator(".status")).to_have_text("signed-in")
    assert [query["prompt"] for query in traffic.authorize] == [["none"], ["none"]]
    assert traffic.token_grants == ["authorization_code", "authorization_code"]
    assert _call_api(page, "default")["sub"] == alice["sub"]
    assert _call_api(page, "globex")["sub"] == gina["sub"]
    _assert_nothing_stored(page)

    globex.locator("button.signout").click()
    expect(globex.locator(".status")).to_have_text("signed-out")
    expect(default.locator(".status")).to_have_text("signed-in")
    assert _call_api(page, "default")["sub"] == alice["sub"]
    default.locator("button.signout").click()
    expect(default.locator(".status")).to_have_text("signed-out")
    assert traffic.errors == []


KEYS_IN_INDEXEDDB = """() => new Promise((resolve) => {
  const open = indexedDB.open("pixie-dpop");
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("keys")) { db.close(); resolve([]); return; }
    const all = db.transaction("keys").objectStore("keys").getAll();
    all.onsuccess = () => {
      db.close();
      resolve(all.result.map((pair) => ({
        extractable: pair.privateKey.extractable,
        curve: pair.privateKey.algorithm.namedCurve,
      })));
    };
  };
})"""


def test_dpop_and_par_in_the_browser(browser: Browser, world: World) -> None:
    """``dpop`` and ``par`` on the provider: the request is pushed (only ``client_id`` and ``request_uri`` in the
    address bar), the token request carries a proof, the API is called under the DPoP scheme with a proof (the
    gateway checks it), the key is a non-extractable P-256 key in IndexedDB, and signing out drops it.

    Spec: RFC 9449 §4–7, §10 (``dpop_jkt``); RFC 9126 §2, §4."""
    page, traffic = _open(browser)
    sent: list[tuple[str, str, dict[str, str]]] = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.headers)))
    page.goto(f"{world.sender}/")
    panel = _panel(page, "default")
    expect(panel.locator(".status")).to_have_text("signed-out")
    panel.locator("button.signin").click()
    _sign_in_at_pixie(page, world.issuer, "default", world.sender)
    expect(panel.locator(".status")).to_have_text("signed-in")

    pushes = [headers for method, url, headers in sent if method == "POST" and url == f"{world.issuer}/par"]
    assert len(pushes) == 1 and "dpop" in pushes[0]
    assert traffic.authorize and set(traffic.authorize[0]) == {"client_id", "request_uri"}
    token_posts = [headers for method, url, headers in sent if method == "POST" and url == f"{world.issuer}/token"]
    assert token_posts and all("dpop" in headers for headers in token_posts)

    answer = _call_api(page, "default")
    assert answer["sub"]
    api_calls = [headers for method, url, headers in sent if url.startswith(world.apis["default"]) and method == "GET"]
    assert api_calls[-1]["authorization"].startswith("DPoP ") and api_calls[-1]["dpop"].count(".") == 2

    keys = page.evaluate(KEYS_IN_INDEXEDDB)
    assert keys == [{"extractable": False, "curve": "P-256"}]
    _assert_nothing_stored(page)
    assert traffic.errors == []

    panel.locator("button.signout").click()
    expect(panel.locator(".status")).to_have_text("signed-out")
    page.wait_for_function(f"async () => (await ({KEYS_IN_INDEXEDDB})()).length === 0")


def test_signing_out_everywhere_ends_the_session_at_pixie(browser: Browser, world: World) -> None:
    """``signOut({ endSession: true })`` from an app on another origin: the browser goes to Pixie's
    ``end_session_endpoint`` with the ID token as hint, the SSO session ends, and it comes back to the registered
    post-logout URI; the next sign-in asks for the password again.

    Spec: OpenID Connect RP-Initiated Logout 1.0 §2–3."""
    page, traffic = _open(browser)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.is_navigation_request() else None)
    page.goto(f"{world.single}/")
    panel = _panel(page, "default")
    panel.locator("button.signin").click()
    _sign_in_at_pixie(page, world.issuer, "default", world.single)
    expect(panel.locator(".status")).to_have_text("signed-in")

    panel.locator("button.signout-everywhere").click()
    page.wait_for_url(f"{world.single}/signed-out")
    ends = [url for url in sent if url.startswith(f"{world.issuer}/end_session?")]
    assert len(ends) == 1
    query = parse_qs(urlsplit(ends[0]).query)
    assert query["client_id"] == ["react-app"] and query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == [f"{world.single}/signed-out"]
    expect(panel.locator(".status")).to_have_text("signed-out")

    panel.locator("button.signin").click()
    page.wait_for_url(f"{world.issuer}/login?*")  # the SSO session is gone: the password is asked again
    assert traffic.errors == []
