"""The SSO session: an opaque, hashed, HttpOnly cookie; silent re-authorization with remembered consent;
``prompt`` forcing steps; logout (issue 3 items 2 and 3; ARCHITECTURE §6.6).

Spec: RFC 6265 §4.1.2.5–§4.1.2.6 and RFC 6265bis §4.1.2.7 (SameSite), §4.1.3.2 (``__Host-``); RFC 6749 §4.1.1
(the server authenticates the resource owner and obtains a decision); OpenID Connect Core §3.1.2.1 (``prompt``);
RFC 9700 §4.7 (CSRF).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.support import (
    PASSWORDS,
    SPA_CB,
    TLS,
    Browser,
    Pixie,
    SignedIn,
    assert_error_page,
    authorize_pairs,
    hidden_fields,
    redirect_params,
    sha256_hex,
    sign_in,
)


def _attributes(set_cookie: str) -> dict[str, str]:
    _, _, rest = set_cookie.partition(";")
    attributes = {}
    for part in rest.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            attributes[key.lower()] = value
    return attributes


def test_session_cookie_attributes(alice_session: SignedIn) -> None:
    """Issue 3 item 3: the session cookie is HttpOnly (RFC 6265 §4.1.2.6), SameSite=Lax (RFC 6265bis §4.1.2.7),
    Path=/ and host-only (no Domain), with a bounded lifetime; opaque (≥ 256 bits, no structure)."""
    attributes = _attributes(alice_session.set_cookie)
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes
    assert 0 < int(attributes["max-age"]) <= 30 * 24 * 3600
    assert len(alice_session.cookie) >= 43 and "." not in alice_session.cookie


def test_session_stored_hashed(pixie: Pixie, alice_session: SignedIn) -> None:
    """ARCHITECTURE §6.6: the session id is stored only as its SHA-256 (positive control: the hash is there)."""
    data = pixie.db_bytes()
    assert sha256_hex(alice_session.cookie).encode() in data
    assert alice_session.cookie.encode() not in data


def test_sso_returns_code_without_pages(pixie: Pixie, alice: Browser) -> None:
    """Issue 3 item 3: with a live session and remembered consent the next authorization redirects straight back to
    the client with a code (RFC 6749 §4.1.2), no login or consent page."""
    response = alice.authorize(authorize_pairs(state="again"))
    params = redirect_params(response, SPA_CB)
    assert set(params) == {"code", "state", "iss"}


def test_forged_session_cookie_is_ignored(browser: Browser) -> None:
    """An unknown session cookie value means "not signed in": the request goes to the login page."""
    browser.http.cookies.set("pixie-session", "forged-" + "x" * 40)
    response = browser.authorize(authorize_pairs())
    assert response.status_code == 303 and urlsplit(response.headers["location"]).path == "/login"


def _planted_session(pixie: Pixie, *, last_seen_ago: float, idle_ttl: int, absolute_in: float) -> str:
    """A session of alice written straight into the database (no Argon2 needed); returns its cookie value."""
    cookie = secrets.token_urlsafe(32)
    now = time.time()
    pixie.execute(
        "INSERT INTO sso_sessions (tenant_id, session_hash, user_id, auth_time, created_at, last_seen_at, idle_ttl,"
        " absolute_expires_at, revoked_at) VALUES ('default', ?, ?, ?, ?, ?, ?, ?, NULL)",
        (
            sha256_hex(cookie),
            pixie.user_ids["alice"],
            now - 60,
            now - 60,
            now - last_seen_ago,
            idle_ttl,
            now + absolute_in,
        ),
    )
    return cookie


SESSION_LIFETIMES = [
    pytest.param(10, 3600, 3600, "client", id="live"),
    pytest.param(7200, 3600, 86400, "/login", id="idle-expired"),
    pytest.param(10, 3600, -1, "/login", id="absolute-expired"),
]


@pytest.mark.parametrize(("last_seen_ago", "idle_ttl", "absolute_in", "step"), SESSION_LIFETIMES)
def test_session_idle_and_absolute_lifetime(
    pixie: Pixie, last_seen_ago: float, idle_ttl: int, absolute_in: float, step: str
) -> None:
    """Issue 3 item 3: a session ends after its idle time without use and at its absolute expiry, whatever the
    cookie's own lifetime; a live one signs in silently (control)."""
    cookie = _planted_session(pixie, last_seen_ago=last_seen_ago, idle_ttl=idle_ttl, absolute_in=absolute_in)
    with Browser(pixie, cookies={"pixie-session": cookie}) as browser:
        assert _step(browser.authorize(authorize_pairs())) == step


def _step(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:200]
    location = response.headers["location"]
    return urlsplit(location).path if location.startswith("/") else "client"


def test_consent_not_asked_again_for_a_subset(alice: Browser) -> None:
    """Issue 3 item 2: consent is remembered per user+client+scopes and not asked again for a subset."""
    approved = alice.follow(
        alice.authorize(authorize_pairs(client_id="subset-app", scope="properties:read tenants:read")), "/consent"
    )
    redirect_params(alice.submit_consent(approved), SPA_CB)
    for scope in ("properties:read tenants:read", "properties:read", "tenants:read"):
        assert _step(alice.authorize(authorize_pairs(client_id="subset-app", scope=scope))) == "client", scope


def test_consent_asked_again_for_a_superset(alice: Browser) -> None:
    """Issue 3 item 2: a request for more than was granted asks again, listing the scopes in plain words."""
    page = alice.follow(alice.authorize(authorize_pairs(client_id="superset-app", scope="properties:read")), "/consent")
    redirect_params(alice.submit_consent(page), SPA_CB)
    response = alice.authorize(authorize_pairs(client_id="superset-app", scope="properties:read tenants:read"))
    assert _step(response) == "/consent"
    page = alice.follow(response, "/consent")
    assert "View the tenants of your properties" in page.text
    assert _step(alice.authorize(authorize_pairs(client_id="superset-app", scope="properties:read"))) == "client"


def test_prompt_login_forces_login(alice: Browser) -> None:
    """OpenID Connect Core §3.1.2.1: ``prompt=login`` re-authenticates even with a live session."""
    response = alice.authorize(authorize_pairs(prompt="login"))
    assert _step(response) == "/login"
    assert "password" in alice.follow(response, "/login").text


def test_prompt_consent_forces_consent(alice: Browser) -> None:
    """OpenID Connect Core §3.1.2.1: ``prompt=consent`` asks again though consent is remembered."""
    response = alice.authorize(authorize_pairs(prompt="consent"))
    assert _step(response) == "/consent"


@pytest.fixture
def dave(pixie: Pixie) -> Iterator[Browser]:
    """A browser with a fresh session of dave (tests here end it)."""
    with Browser(pixie) as browser:
        sign_in(browser, "dave")
        yield browser


def test_logout_ends_the_session(pixie: Pixie, dave: Browser) -> None:
    """Issue 3 item 3: ``POST /logout`` ends the session server-side: the old cookie value, replayed, no longer signs
    anyone in (next /authorize goes to /login); the cookie is cleared."""
    cookie = dave.session_cookie()
    assert cookie and _step(dave.authorize(authorize_pairs())) == "client"
    response = dave.http.post("/logout", headers={"Origin": pixie.origin})
    assert response.status_code == 200
    cleared = [h for h in response.headers.get_list("set-cookie") if h.startswith("pixie-session=")]
    assert cleared and ("max-age=0" in cleared[0].lower() or "expires=thu, 01 jan 1970" in cleared[0].lower())
    [(revoked_at,)] = pixie.query("SELECT revoked_at FROM sso_sessions WHERE session_hash = ?", (sha256_hex(cookie),))
    assert revoked_at is not None
    with Browser(pixie, cookies={"pixie-session": cookie}) as replay:
        assert _step(replay.authorize(authorize_pairs())) == "/login"


FOREIGN_ORIGINS = [
    pytest.param("https://evil.example", id="other-site"),
    pytest.param("http://127.0.0.1:9999", id="other-port"),
    pytest.param("http://127.0.0.1", id="no-port"),
    pytest.param("null", id="null[RFC6454-7.3]"),
    pytest.param(None, id="missing"),
    pytest.param("{origin}/", id="trailing-slash"),
    pytest.param("{origin}.evil.example", id="suffix"),
    pytest.param("{origin}0", id="longer-port"),
    pytest.param("https://{host}", id="other-scheme"),
    pytest.param("{origin}, https://evil.example", id="list"),
]


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_logout_from_foreign_origin_is_refused(pixie: Pixie, dave: Browser, origin: str | None) -> None:
    """RFC 9700 §4.7 (CSRF), RFC 6454 §5: a POST /logout whose ``Origin`` is not exactly this server's (a forced
    logout from another site or another port of this host, a hidden ``null`` origin, or none at all) is refused
    and the session survives."""
    host = urlsplit(pixie.origin).netloc
    headers = {} if origin is None else {"Origin": origin.format(origin=pixie.origin, host=host)}
    response = dave.http.post("/logout", headers=headers)
    assert_error_page(response, 403)
    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith("pixie-session=")]
    assert _step(dave.authorize(authorize_pairs())) == "client"


def test_logout_from_a_page_hiding_its_origin(pixie: Pixie, dave: Browser) -> None:
    """Fetch standard: a form POST from a ``no-referrer`` page (every Pixie page) says ``Origin: null``; W3C Fetch
    Metadata §2.1: the browser's ``Sec-Fetch-Site`` tells ours (``same-origin``) from another port's
    (``same-site``) — only the former logs out."""
    refused = dave.http.post("/logout", headers={"Origin": "null", "Sec-Fetch-Site": "same-site"})
    assert_error_page(refused, 403)
    assert _step(dave.authorize(authorize_pairs())) == "client"
    response = dave.http.post("/logout", headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200
    assert _step(dave.authorize(authorize_pairs())) == "/login"


def test_logout_is_post_only(pixie: Pixie, dave: Browser) -> None:
    """A GET (an <img> on any page) cannot log anyone out."""
    assert dave.http.get("/logout").status_code == 405
    assert _step(dave.authorize(authorize_pairs())) == "client"


# An https issuer: the cookies must be Secure and __Host- prefixed. Served over plain http on loopback for the
# test; the cookies are therefore sent by hand (a real browser would refuse to send Secure cookies over http).
MASTER_KEY = b"spec-https-issuer-master-key-32b"


async def _seed_https(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(
            storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=["properties:read"]
        )
        await create_user(storage, "default", "dave", PASSWORDS["dave"], roles=["admin"])  # may use /admin


@pytest.fixture(scope="module")
def https_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server whose issuer is ``https://127.0.0.1:port`` (it still listens on plain http); yields its URL."""
    path: Path = tmp_path_factory.mktemp("https-issuer") / "pixie.db"
    database_url = f"sqlite:///{path}"
    run_coroutine(_seed_https(database_url))
    port = free_port()
    issuer = f"https://127.0.0.1:{port}"
    with serve_pixie(Settings(database_url=database_url, issuer=issuer, master_key=MASTER_KEY)) as base:
        yield base


def _cookie_header(responses: list[httpx.Response]) -> str:
    jar = SimpleCookie()
    for response in responses:
        for header in response.headers.get_list("set-cookie"):
            jar.load(header)
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def test_https_issuer_cookies_are_secure_host_prefixed(https_issuer: str) -> None:
    """Issue 3 item 3 / RFC 6265bis §4.1.3.2: on an https issuer the request and session cookies are Secure,
    ``__Host-`` prefixed, Path=/ and without Domain — no subdomain can set or shadow them."""
    with httpx.Client(base_url=https_issuer, verify=TLS, timeout=20) as http:
        started = http.get("/authorize", params=tuple(authorize_pairs(scope="properties:read")))
        assert started.status_code == 303
        cookies = _cookie_header([started])
        page = http.get(started.headers["location"], headers={"Cookie": cookies})
        assert page.status_code == 200
        data = {**hidden_fields(page.text), "username": "dave", "password": PASSWORDS["dave"]}
        logged_in = http.post("/login", data=data, headers={"Cookie": cookies})
        assert logged_in.status_code == 303, logged_in.text[:300]
    set_cookies = started.headers.get_list("set-cookie") + logged_in.headers.get_list("set-cookie")
    session = [h for h in set_cookies if h.startswith("__Host-pixie-session=")]
    assert len(session) == 1, set_cookies
    for header in set_cookies:
        if "max-age=0" in header.lower():
            continue  # a cookie being cleared
        attributes = _attributes(header)
        assert header.startswith("__Host-"), header
        assert "secure" in attributes and "httponly" in attributes, header
        assert attributes.get("path") == "/" and "domain" not in attributes, header


class _ManualJar:
    """Cookies kept by hand for an https issuer served over http (httpx, like a browser, keeps Secure cookies off
    plain http): every Set-Cookie is recorded, and sent back as one Cookie header."""

    def __init__(self, http: httpx.Client) -> None:
        self.http, self.jar = http, SimpleCookie()
        self.set_cookies: list[str] = []

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")  # the issuer's https URL, over http
        cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in self.jar.items() if morsel.value)
        response = self.http.request(method, target, headers={"Cookie": cookies}, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            self.jar.load(header)
        return response


def test_https_issuer_dashboard_cookies_are_secure_host_prefixed(https_issuer: str) -> None:
    """RFC 6265bis §4.1.3.2: on an https issuer the dashboard's cookies (the sign-in flow's and the admin
    session's) are Secure, ``__Host-`` prefixed, Path=/ and without Domain, like the SSO session's; the unprefixed
    name opens nothing."""
    with httpx.Client(base_url=https_issuer, verify=TLS, timeout=20) as http:
        browser = _ManualJar(http)
        started = browser.send("GET", "/admin")
        assert started.status_code == 303
        to_login = browser.send("GET", started.headers["location"])
        page = browser.send("GET", to_login.headers["location"])
        data = {**hidden_fields(page.text), "username": "dave", "password": PASSWORDS["dave"]}
        response = browser.send("POST", "/login", data=data)
        if urlsplit(response.headers["location"]).path == "/consent":
            page = browser.send("GET", response.headers["location"])
            response = browser.send("POST", "/consent", data={**hidden_fields(page.text), "decision": "approve"})
        assert urlsplit(response.headers["location"]).path == "/admin/callback", response.headers["location"]
        callback = browser.send("GET", response.headers["location"])
        assert callback.status_code == 303 and callback.headers["location"] == "/admin", callback.text[:300]
        assert "Flow analytics" in browser.send("GET", "/admin").text

        names = {header.partition("=")[0] for header in browser.set_cookies}
        assert {"__Host-pixie-admin-flow", "__Host-pixie-admin"} <= names, names
        for header in browser.set_cookies:
            if header.startswith("__Host-pixie-admin") and "max-age=0" not in header.lower():
                attributes = _attributes(header)
                assert "secure" in attributes and "httponly" in attributes, header
                assert attributes.get("path") == "/" and "domain" not in attributes, header
        session = browser.jar["__Host-pixie-admin"].value
        unprefixed = http.get("/admin", headers={"Cookie": f"pixie-admin={session}"})
        assert unprefixed.status_code == 303


@pytest.mark.parametrize(("last_seen_ago", "recorded"), [(5, False), (120, True)])
def test_silent_sign_in_records_use_at_most_once_a_minute(pixie: Pixie, last_seen_ago: float, recorded: bool) -> None:
    """A silent sign-in moves the idle deadline (last_seen_at) when the recorded use is a minute old or more, and
    leaves a fresh one alone (one write per minute per session, not per authorization)."""
    cookie = _planted_session(pixie, last_seen_ago=last_seen_ago, idle_ttl=3600, absolute_in=3600)
    before = time.time()
    with Browser(pixie, cookies={"pixie-session": cookie}) as browser:
        assert _step(browser.authorize(authorize_pairs())) == "client"
    [(last_seen,)] = pixie.query("SELECT last_seen_at FROM sso_sessions WHERE session_hash = ?", (sha256_hex(cookie),))
    assert (last_seen >= before) is recorded
    assert last_seen >= before - last_seen_ago - 1
