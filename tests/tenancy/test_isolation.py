"""Issue 7 item 2: two tenants side by side in one process, and every way across the line between them fails with
the right error — while the same artefact keeps working at home, so the refusal is isolation and not a broken
artefact.

Spec: RFC 8414 §2, §3.1, §3.3 (issuer per tenant); RFC 6749 §4.1.3, §5.2, §6 (codes, refresh tokens, client
authentication); RFC 7009 §2.2, RFC 7662 §2.2 (foreign tokens); RFC 9068 §4 (``iss``, keys).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livesupport import run_coroutine
from pixie.errors import InvalidToken
from pixie.resource import JWTVerifier
from spec.support import assert_error_page, assert_json_error, authorize_pairs, jwt_part, redirect_params
from tenancy.support import (
    GLOBEX_CB,
    PASSWORDS,
    RS_SECRETS,
    SPA_CB,
    Server,
    TenantBrowser,
    client_credentials,
    code_and_verifier,
    cookie_name,
)

GENERIC_FAILURE = "Invalid username or password."


@pytest.fixture(scope="module")
def alice_acme(server: Server) -> Iterator[TenantBrowser]:
    """alice, signed in at acme once for the module (Argon2 is slow on purpose), consent remembered for ``app``."""
    with TenantBrowser(server, "acme") as browser:
        browser.sign_in("alice")
        yield browser


def _tokens(server: Server, http: httpx.Client, browser: TenantBrowser) -> dict[str, Any]:
    code, verifier = code_and_verifier(browser)
    response = _redeem(http, server, "acme", code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _redeem(http: httpx.Client, server: Server, tenant: str, code: str, verifier: str) -> httpx.Response:
    redirect_uri = SPA_CB if tenant == "acme" else GLOBEX_CB
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "client_id": "app"}
    return http.post(f"{server.tenant(tenant).base}/token", data={**data, "redirect_uri": redirect_uri})


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_metadata_names_each_tenants_issuer(server: Server, http: httpx.Client, tenant: str) -> None:
    """RFC 8414 §3.1: the path-inserted form and the tenant-path form give the same document, whose ``issuer`` is
    the tenant's own and whose endpoints all live under it (§3.3: issuer must match where it was fetched)."""
    issuer = f"{server.origin}/t/{tenant}"
    inserted = http.get(f"/.well-known/oauth-authorization-server/t/{tenant}")
    suffixed = http.get(f"/t/{tenant}/.well-known/oauth-authorization-server")
    assert inserted.status_code == suffixed.status_code == 200
    document = inserted.json()
    assert document == suffixed.json()
    assert document["issuer"] == issuer
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"):
        assert document[name].startswith(issuer + "/"), (name, document[name])
    assert http.get("/.well-known/oauth-authorization-server").json()["issuer"] == server.origin


def test_jwks_are_disjoint(http: httpx.Client) -> None:
    """Each tenant signs with its own keys: no kid is published by two tenants."""
    kids = {
        name: {key["kid"] for key in http.get(path).json()["keys"]}
        for name, path in (("default", "/jwks.json"), ("acme", "/t/acme/jwks.json"), ("globex", "/t/globex/jwks.json"))
    }
    assert all(len(found) == 2 for found in kids.values()), kids  # active + next each
    assert not kids["acme"] & kids["globex"] and not kids["acme"] & kids["default"]
    assert not kids["globex"] & kids["default"]


def test_access_tokens_carry_their_tenants_issuer_and_key(server: Server, http: httpx.Client) -> None:
    acme = client_credentials(http, "/t/acme/token", "rs", RS_SECRETS["acme"])
    globex = client_credentials(http, "/t/globex/token", "rs", RS_SECRETS["globex"])
    assert jwt_part(acme, 1)["iss"] == f"{server.origin}/t/acme"
    assert jwt_part(globex, 1)["iss"] == f"{server.origin}/t/globex"
    acme_kids = {key["kid"] for key in http.get("/t/acme/jwks.json").json()["keys"]}
    assert jwt_part(acme, 0)["kid"] in acme_kids and jwt_part(globex, 0)["kid"] not in acme_kids


def test_code_of_a_is_invalid_grant_at_b_and_still_good_at_a(
    server: Server, http: httpx.Client, alice_acme: TenantBrowser
) -> None:
    """RFC 6749 §4.1.3, §5.2: globex has no such code → ``invalid_grant``; the failed attempt did not touch acme's
    code, which then redeems at acme."""
    code, verifier = code_and_verifier(alice_acme)
    assert_json_error(_redeem(http, server, "globex", code, verifier), "invalid_grant")
    assert _redeem(http, server, "acme", code, verifier).status_code == 200


def test_refresh_token_of_a_is_invalid_grant_at_b(
    server: Server, http: httpx.Client, alice_acme: TenantBrowser
) -> None:
    """RFC 6749 §6, §5.2: globex knows no such refresh token; at acme the same token still rotates."""
    tokens = _tokens(server, http, alice_acme)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "app"}
    assert_json_error(http.post("/t/globex/token", data=data), "invalid_grant")
    assert_json_error(http.post("/token", data=data), "invalid_client", status=401)  # no client app at default
    assert http.post("/t/acme/token", data=data).status_code == 200


def test_access_token_of_a_is_inactive_at_b_and_revoking_it_there_does_nothing(
    server: Server, http: httpx.Client, alice_acme: TenantBrowser
) -> None:
    """RFC 7662 §2.2: a foreign token is ``{"active": false}``; RFC 7009 §2.2: revoking it at globex answers 200
    and changes nothing at acme (its own keys, its own deny list)."""
    access = _tokens(server, http, alice_acme)["access_token"]
    globex_rs = ("rs", RS_SECRETS["globex"])
    acme_rs = ("rs", RS_SECRETS["acme"])
    assert http.post("/t/globex/introspect", data={"token": access}, auth=globex_rs).json() == {"active": False}
    revoked = http.post("/t/globex/revoke", data={"token": access, "client_id": "app"})
    assert revoked.status_code == 200
    at_home = http.post("/t/acme/introspect", data={"token": access}, auth=acme_rs).json()
    assert at_home["active"] is True and at_home["iss"] == f"{server.origin}/t/acme"


def test_resource_verifier_takes_a_tenant_issuer_without_special_casing(
    server: Server, http: httpx.Client, alice_acme: TenantBrowser
) -> None:
    """Issue 7 item 6, RFC 9068 §4: :class:`JWTVerifier` discovers a tenant's keys through its path-inserted
    metadata like any issuer's; acme's token verifies for acme and fails for globex (issuer, keys)."""
    access = _tokens(server, http, alice_acme)["access_token"]
    acme, globex = f"{server.origin}/t/acme", f"{server.origin}/t/globex"

    async def check() -> tuple[str, str]:
        good = JWTVerifier(acme, "rs")  # acme's app is registered with the audience "rs"
        wrong = JWTVerifier(globex, "rs")
        try:
            verified = await good.verify(access)
            with pytest.raises(InvalidToken) as refused:
                await wrong.verify(access)
            return verified.issuer, refused.value.description
        finally:
            await good.aclose()
            await wrong.aclose()

    issuer, reason = run_coroutine(check())
    assert issuer == acme
    assert reason


def test_session_cookie_is_per_tenant(server: Server, alice_acme: TenantBrowser) -> None:
    """Cookies are keyed by tenant: acme's session cookie has acme's name, so globex never reads it; even sent
    under globex's name, globex has no such session → login page, and ``prompt=none`` → ``login_required``."""
    cookie = alice_acme.session_cookie()
    assert cookie and cookie_name("acme") in alice_acme.http.cookies
    for jar in ({cookie_name("acme"): cookie}, {cookie_name("globex"): cookie}):
        with TenantBrowser(server, "globex", cookies=jar) as globex:
            pairs = authorize_pairs(client_id="app", redirect_uri=GLOBEX_CB)
            globex.login_page(pairs)  # asserts a 303 to /t/globex/login, not a code
            silent = globex.authorize(authorize_pairs(client_id="app", redirect_uri=GLOBEX_CB, prompt="none"))
            assert redirect_params(silent, GLOBEX_CB)["error"] == "login_required"


def test_user_of_a_cannot_sign_in_at_b(server: Server) -> None:
    """Users are per tenant: alice's right password at globex is the generic failure (no user enumeration)."""
    with TenantBrowser(server, "globex") as globex:
        page = globex.login_page(authorize_pairs(client_id="app", redirect_uri=GLOBEX_CB))
        response = globex.submit_login(page, "alice", PASSWORDS["alice"])
        assert response.status_code == 200
        assert GENERIC_FAILURE in response.text
        assert globex.session_cookie() is None


def test_same_client_id_is_two_clients(server: Server, http: httpx.Client) -> None:
    """Issue 7 item 3: ``rs`` and ``app`` exist in both tenants as different clients — another secret
    (RFC 6749 §5.2 ``invalid_client``) and another redirect URI (RFC 6749 §3.1.2.4: our error page, no redirect)."""
    response = http.post("/t/globex/token", data={"grant_type": "client_credentials"}, auth=("rs", RS_SECRETS["acme"]))
    assert_json_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"].startswith("Basic")
    with TenantBrowser(server, "globex") as globex:
        assert_error_page(globex.authorize(authorize_pairs(client_id="app", redirect_uri=SPA_CB)))
    with TenantBrowser(server, "acme") as acme:
        assert_error_page(acme.authorize(authorize_pairs(client_id="app", redirect_uri=GLOBEX_CB)))
        acme.login_page(authorize_pairs(client_id="app", redirect_uri=SPA_CB))


def test_unknown_tenant_is_404_everywhere(http: httpx.Client) -> None:
    """A tenant that does not exist answers 404 (``invalid_request``) on every endpoint, never a 400 that would
    let tenant names be probed differently."""
    for method, path in (
        ("GET", "/.well-known/oauth-authorization-server/t/nobody"),
        ("GET", "/t/nobody/.well-known/oauth-authorization-server"),
        ("GET", "/t/nobody/jwks.json"),
        ("GET", "/t/nobody/authorize"),
        ("POST", "/t/nobody/token"),
        ("POST", "/t/nobody/introspect"),
        ("POST", "/t/nobody/revoke"),
        ("GET", "/t/nobody/theme.css"),
        ("GET", "/t/Not_A_Name/jwks.json"),
    ):
        assert_json_error(http.request(method, path), "invalid_request", status=404)
