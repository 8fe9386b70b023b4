"""Administrator access ends when it should: the dashboard's server-side sessions (logout, a disabled
administrator, a lost role), exact origins for ``POST /admin/logout``, and admin-API tokens of disabled users and
clients — on the tenancy package's real server, with fresh administrators created through the admin API.

Spec: OWASP Session Management Cheat Sheet (server-side invalidation at logout and on privilege change); RFC 6454
§5, §7 and RFC 9700 §4.7 (origins against CSRF); RFC 6750 §3.1, RFC 9068 §4 (bearer tokens); RFC 7662 §2.2.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from spec.support import Pkce, assert_error_page, assert_json_error, authorize_pairs, redirect_params, sha256_hex
from tenancy.support import AdminApi, Server, TenantBrowser

PASSWORD = "an-administrator-password"
SESSION_COOKIE = "pixie-admin"


def _new_user(admin: AdminApi, roles: tuple[str, ...] = ("admin",)) -> str:
    """A fresh user of the default tenant (an administrator unless told otherwise); returns the username."""
    username = f"op-{secrets.token_hex(3)}"
    body = {"username": username, "password": PASSWORD, "roles": list(roles)}
    admin.ok("POST", "/tenants/default/users", body, status=201)
    return username


def _sign_in(browser: TenantBrowser, username: str) -> httpx.Response:
    """Through the dashboard's own flow: ``/admin`` → ``/authorize`` → login → consent → ``/admin/callback``."""
    started = browser.http.get("/admin")
    assert started.status_code == 303, started.text[:300]
    page = browser.follow(browser.http.get(started.headers["location"]), "/login")
    response = browser.submit_login(page, username, PASSWORD)
    if urlsplit(response.headers.get("location", "")).path == "/consent":
        response = browser.submit_consent(browser.follow(response, "/consent"))
    assert response.status_code == 303, response.text[:300]
    assert urlsplit(response.headers["location"]).path == "/admin/callback"
    return browser.http.get(response.headers["location"])


@pytest.fixture
def operator(server: Server, admin: AdminApi) -> Iterator[tuple[TenantBrowser, str]]:
    """A fresh administrator signed in to the dashboard: the browser and the username."""
    username = _new_user(admin)
    with TenantBrowser(server, "default") as browser:
        callback = _sign_in(browser, username)
        assert callback.status_code == 303 and callback.headers["location"] == "/admin", callback.text[:300]
        yield browser, username


def _dashboard(server: Server, cookie: str) -> httpx.Response:
    """``GET /admin`` from another browser that holds only ``cookie`` (a saved copy of the session cookie)."""
    with httpx.Client(base_url=server.origin, cookies={SESSION_COOKIE: cookie}, timeout=20) as replay:
        return replay.get("/admin")


def _open(response: httpx.Response) -> bool:
    """True for the dashboard itself, False for the start of a new sign-in."""
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200 and "Flow analytics" in response.text


def test_the_session_is_a_random_id_stored_only_as_its_hash(
    server: Server, operator: tuple[TenantBrowser, str]
) -> None:
    """The cookie is an opaque 256-bit id; the database holds its SHA-256 with the user and an 8-hour expiry."""
    browser, username = operator
    cookie = browser.http.cookies[SESSION_COOKIE]
    assert len(cookie) >= 43 and "." not in cookie
    [(user_id,)] = server.tenant("default").query("SELECT user_id FROM users WHERE username = ?", (username,))
    rows = server.tenant("default").query(
        "SELECT user_id, expires_at - created_at, revoked_at FROM admin_sessions WHERE session_hash = ?",
        (sha256_hex(cookie),),
    )
    assert rows == [(user_id, 8 * 3600, None)]
    # Not db_bytes(): closing another descriptor of the live database file would drop this process's SQLite locks
    # (POSIX advisory locks are per process), and a later CLI process in this package would then not see them.
    plain = server.tenant("default").query("SELECT count(*) FROM admin_sessions WHERE session_hash = ?", (cookie,))
    assert plain == [(0,)]
    assert _open(_dashboard(server, cookie))


def test_logout_ends_the_session_for_every_copy_of_the_cookie(
    server: Server, operator: tuple[TenantBrowser, str]
) -> None:
    """After ``POST /admin/logout`` a saved copy of the cookie no longer opens the dashboard, nor a chart."""
    browser, _ = operator
    cookie = browser.http.cookies[SESSION_COOKIE]
    assert _open(browser.http.get("/admin"))
    response = browser.http.post("/admin/logout", headers={"Origin": server.origin})
    assert response.status_code == 200 and "Signed out" in response.text
    assert not _open(_dashboard(server, cookie))
    with httpx.Client(base_url=server.origin, cookies={SESSION_COOKIE: cookie}, timeout=20) as replay:
        assert replay.get("/admin/charts/funnel.svg").status_code == 401


def test_disabling_the_administrator_ends_the_session_for_good(
    server: Server, admin: AdminApi, operator: tuple[TenantBrowser, str]
) -> None:
    """Disabled → the next request is refused; enabled again → the old session stays ended (sign in anew)."""
    browser, username = operator
    cookie = browser.http.cookies[SESSION_COOKIE]
    assert _open(_dashboard(server, cookie))
    admin.ok("POST", f"/tenants/default/users/{username}/disable")
    assert not _open(_dashboard(server, cookie))
    admin.ok("POST", f"/tenants/default/users/{username}/enable")
    assert not _open(_dashboard(server, cookie))


def test_losing_the_admin_role_ends_the_session(server: Server, operator: tuple[TenantBrowser, str]) -> None:
    browser, username = operator
    cookie = browser.http.cookies[SESSION_COOKIE]
    assert _open(_dashboard(server, cookie))
    changed = server.tenant("default").execute(
        "UPDATE users SET roles = ? WHERE username = ?", (json.dumps(["auditor"]), username)
    )
    assert changed == 1
    assert not _open(_dashboard(server, cookie))


# Headers of a POST /admin/logout that does not come from this server's pages; "{origin}" is the server's origin,
# "{prefix}" that origin less its last character (a startswith test would take it for ours).
FOREIGN = [
    pytest.param([("Origin", "null")], id="null[RFC6454-7.3]"),
    pytest.param([("Origin", "null"), ("Sec-Fetch-Site", "same-site")], id="null-from-another-port[FetchMetadata]"),
    pytest.param([("Origin", "null"), ("Sec-Fetch-Site", "cross-site")], id="null-from-another-site[FetchMetadata]"),
    pytest.param([], id="missing"),
    pytest.param([("Origin", "https://evil.example")], id="other-site"),
    pytest.param([("Origin", "{prefix}")], id="prefix-of-the-origin"),
    pytest.param([("Origin", "http://127.0.0.1:1")], id="other-port"),
    pytest.param([("Origin", "{origin}/")], id="trailing-slash"),
    pytest.param([("Origin", "{origin}"), ("Origin", "https://evil.example")], id="two-origins"),
]


@pytest.mark.parametrize("headers", FOREIGN)
def test_logout_from_another_origin_is_refused(
    server: Server, operator: tuple[TenantBrowser, str], headers: list[tuple[str, str]]
) -> None:
    """RFC 6454 §5: origins are equal when scheme, host and port are; a prefix of ours (``http://127.0.0.1:1``
    for ``http://127.0.0.1:1234``), another port, ``null`` (the origin hidden) without the browser's
    ``Sec-Fetch-Site: same-origin``, or no Origin at all is refused on our page, and the session survives."""
    browser, _ = operator
    sent = [(name, value.format(origin=server.origin, prefix=server.origin[:-1])) for name, value in headers]
    response = browser.http.post("/admin/logout", headers=sent)
    assert_error_page(response, 403)
    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")]
    assert _open(browser.http.get("/admin"))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("Origin", "{origin}")], id="exact-origin"),
        pytest.param([("Origin", "null"), ("Sec-Fetch-Site", "same-origin")], id="our-no-referrer-page"),
    ],
)
def test_logout_from_our_own_pages(
    server: Server, operator: tuple[TenantBrowser, str], headers: list[tuple[str, str]]
) -> None:
    """The controls: the exact origin, or the dashboard's own form (every Pixie page is ``no-referrer``, so the
    browser sends ``Origin: null`` with ``Sec-Fetch-Site: same-origin``)."""
    browser, _ = operator
    sent = [(name, value.format(origin=server.origin)) for name, value in headers]
    response = browser.http.post("/admin/logout", headers=sent)
    assert response.status_code == 200 and "Signed out" in response.text
    assert not _open(browser.http.get("/admin"))


# --- the admin API and introspection: tokens of disabled users and clients ------------------------------------------


def _admin_user_token(server: Server, http: httpx.Client, username: str) -> str:
    """A ``pixie:admin`` access token for ``username`` through the dashboard's own client (a user flow)."""
    callback = f"{server.origin}/admin/callback"
    proof = Pkce.new()
    pairs = authorize_pairs(
        client_id="pixie-admin", redirect_uri=callback, scope="pixie:admin", challenge=proof.challenge
    )
    with TenantBrowser(server, "default") as browser:
        response = browser.submit_login(browser.login_page(pairs), username, PASSWORD)
        if urlsplit(response.headers.get("location", "")).path == "/consent":
            response = browser.submit_consent(browser.follow(response, "/consent"))
        code = redirect_params(response, callback)["code"]
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": proof.verifier}
    answer = http.post("/token", data={**data, "client_id": "pixie-admin", "redirect_uri": callback})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def test_admin_token_of_a_disabled_user_is_refused_at_once(server: Server, http: httpx.Client, admin: AdminApi) -> None:
    """RFC 6750 §3.1: a disabled administrator's ``pixie:admin`` token is ``invalid_token`` on the next call, and
    stays so once the user is enabled again: disabling ended their access (``pixie.accounts``)."""
    username = _new_user(admin)
    token = _admin_user_token(server, http, username)
    assert AdminApi(http, token).call("GET", "/tenants").status_code == 200
    admin.ok("POST", f"/tenants/default/users/{username}/disable")
    assert_json_error(AdminApi(http, token).call("GET", "/tenants"), "invalid_token", status=401)
    admin.ok("POST", f"/tenants/default/users/{username}/enable")
    assert_json_error(AdminApi(http, token).call("GET", "/tenants"), "invalid_token", status=401)  # deny-listed


def test_admin_token_of_a_user_without_the_role_is_refused(server: Server, http: httpx.Client, admin: AdminApi) -> None:
    username = _new_user(admin)
    token = _admin_user_token(server, http, username)
    assert AdminApi(http, token).call("GET", "/tenants").status_code == 200
    server.tenant("default").execute("UPDATE users SET roles = '[]' WHERE username = ?", (username,))
    assert_json_error(AdminApi(http, token).call("GET", "/tenants"), "invalid_token", status=401)


def test_admin_token_of_a_disabled_client_is_refused_at_once(http: httpx.Client, admin: AdminApi) -> None:
    """Automation's token stops working when its client is disabled through the API (this process drops the
    cached client at once; other instances when they next read the directory's changes: the next test)."""
    client_id = f"ops-{secrets.token_hex(3)}"
    body = {"client_id": client_id, "public": False, "grant_types": ["client_credentials"], "scope": "pixie:admin"}
    secret = admin.ok("POST", "/tenants/default/clients", body, status=201)["client_secret"]
    answer = http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    token = answer.json()["access_token"]
    assert AdminApi(http, token).call("GET", "/tenants").status_code == 200
    admin.ok("POST", f"/tenants/default/clients/{client_id}/disable")
    assert_json_error(AdminApi(http, token).call("GET", "/tenants"), "invalid_token", status=401)


def test_a_client_disabled_elsewhere_is_refused_within_seconds(
    server: Server, http: httpx.Client, admin: AdminApi
) -> None:
    """A change this server did not make (SQL by hand here; another instance or the CLI alike) reaches its client
    cache through the trigger-written change feed, read every second."""
    client_id = f"ops-{secrets.token_hex(3)}"
    body = {"client_id": client_id, "public": False, "grant_types": ["client_credentials"], "scope": "pixie:admin"}
    secret = admin.ok("POST", "/tenants/default/clients", body, status=201)["client_secret"]
    token = http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    api = AdminApi(http, token["access_token"])
    assert api.call("GET", "/tenants").status_code == 200  # the client is cached now
    server.tenant("default").execute("UPDATE clients SET disabled = 1 WHERE client_id = ?", (client_id,))
    done = time.monotonic()
    while api.call("GET", "/tenants").status_code == 200:
        assert time.monotonic() - done < 3, "still served from the cache 3 s after the change"
        time.sleep(0.1)
    assert_json_error(api.call("GET", "/tenants"), "invalid_token", status=401)


def _resource_server(admin: AdminApi) -> tuple[str, str]:
    """A fresh confidential client to introspect with: its id and secret."""
    client_id = f"rs-{secrets.token_hex(3)}"
    body = {"client_id": client_id, "public": False, "grant_types": ["client_credentials"], "scope": "x:read"}
    secret: str = admin.ok("POST", "/tenants/default/clients", body, status=201)["client_secret"]
    return client_id, secret


def test_tokens_of_a_disabled_user_introspect_inactive(server: Server, http: httpx.Client, admin: AdminApi) -> None:
    """RFC 7662 §2.2: while its user is disabled, an access token and a refresh token are inactive, even to the
    resource server they are meant for; enabled again, they stay inactive (disabling revoked them: the user signs in
    afresh)."""
    rs = _resource_server(admin)
    app = f"app-{secrets.token_hex(3)}"
    body = {
        "client_id": app,
        "public": True,
        "redirect_uris": ["http://127.0.0.1:9999/cb"],
        "scope": "properties:read",
        "audiences": [rs[0]],
    }
    admin.ok("POST", "/tenants/default/clients", body, status=201)
    username = _new_user(admin, roles=())
    proof = Pkce.new()
    pairs = authorize_pairs(client_id=app, challenge=proof.challenge)
    with TenantBrowser(server, "default") as browser:
        response = browser.submit_login(browser.login_page(pairs), username, PASSWORD)
        response = browser.submit_consent(browser.follow(response, "/consent"))
        code = redirect_params(response, "http://127.0.0.1:9999/cb")["code"]
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": proof.verifier, "client_id": app}
    tokens = http.post("/token", data={**data, "redirect_uri": "http://127.0.0.1:9999/cb"}).json()

    def active() -> list[bool]:
        return [
            http.post("/introspect", data={"token": tokens[kind]}, auth=rs).json()["active"]
            for kind in ("access_token", "refresh_token")
        ]

    assert active() == [True, True]
    admin.ok("POST", f"/tenants/default/users/{username}/disable")
    assert active() == [False, False]
    admin.ok("POST", f"/tenants/default/users/{username}/enable")
    assert active() == [False, False]


def test_token_of_a_disabled_client_introspects_inactive(http: httpx.Client, admin: AdminApi) -> None:
    rs = _resource_server(admin)
    client_id = f"svc-{secrets.token_hex(3)}"
    body = {
        "client_id": client_id,
        "public": False,
        "grant_types": ["client_credentials"],
        "scope": "x:read",
        "audiences": [rs[0]],
    }
    secret = admin.ok("POST", "/tenants/default/clients", body, status=201)["client_secret"]
    token = http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    assert http.post("/introspect", data={"token": token["access_token"]}, auth=rs).json()["active"] is True
    admin.ok("POST", f"/tenants/default/clients/{client_id}/disable")
    assert http.post("/introspect", data={"token": token["access_token"]}, auth=rs).json() == {"active": False}
