"""The checks of the OpenID Foundation's Basic OP certification plan that apply to the code flow, as tests against
the served Pixie: ``nonce``, ``prompt``, ``max_age``, ``login_hint``, claims by scope, userinfo, discovery fields
and key rotation with ``kid``. Each test names the plan's module (``OP-…``) it stands for.

Spec: OpenID Connect Core 1.0 §3.1.2.1, §3.1.2.6, §3.1.3.7, §5.3, §5.4; Discovery 1.0 §3, §4; RFC 6750 §3.1.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from oidc.conftest import Served
from oidc.support import PASSWORDS, RP_CB, oidc_pairs, redeem, sign_in_tokens, verify_id_token
from spec.support import Browser, Pixie, Pkce, jwt_part, redirect_params

# --- discovery -------------------------------------------------------------------------------------------------------

REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
RECOMMENDED = ("userinfo_endpoint", "scopes_supported", "claims_supported")


@pytest.mark.parametrize(
    ("tenant_prefix", "path"),
    [
        ("", "/.well-known/openid-configuration"),
        ("/t/acme", "/t/acme/.well-known/openid-configuration"),
        ("/t/acme", "/.well-known/openid-configuration/t/acme"),
    ],
)
def test_discovery_document(http: httpx.Client, pixie: Pixie, tenant_prefix: str, path: str) -> None:
    """OP-Discovery-Config, -JWKs, -claims_supported: every REQUIRED field, ``openid`` among the scopes, RS256 among
    the algorithms (Core §15.1), the issuer equal to the tenant's, and every RFC 8414 field with the same value."""
    response = http.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    issuer = pixie.issuer + tenant_prefix
    assert document["issuer"] == issuer
    for field in (*REQUIRED, *RECOMMENDED):
        assert field in document, field
    assert "openid" in document["scopes_supported"]
    assert {"ES256", "RS256"} <= set(document["id_token_signing_alg_values_supported"])
    assert document["response_types_supported"] == ["code"] and document["subject_types_supported"] == ["public"]
    assert {"sub", "iss", "aud", "exp", "iat", "nonce", "email", "name"} <= set(document["claims_supported"])
    assert document["userinfo_endpoint"] == issuer + "/userinfo"
    assert document["end_session_endpoint"] == issuer + "/end_session"
    rfc8414 = http.get(f"{tenant_prefix}/.well-known/oauth-authorization-server").json()
    for field, value in rfc8414.items():
        assert document[field] == value, field
    assert http.get(document["jwks_uri"].removeprefix(pixie.issuer)).json()["keys"]


# --- nonce, prompt, max_age, login_hint ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice_browser(pixie: Pixie) -> Any:
    """alice, signed in once through ``rp`` (consenting to ``openid profile email``)."""
    tokens, browser = sign_in_tokens(pixie, "alice", nonce="module")
    yield browser, verify_id_token(pixie, tokens["id_token"], nonce="module")
    browser.close()


def test_prompt_none_without_session_is_login_required(pixie: Pixie) -> None:
    """OP-prompt-none-NotLoggedIn: an error back to the client, with ``state`` and ``iss``, never a login page."""
    with Browser(pixie) as browser:
        params = redirect_params(browser.authorize(oidc_pairs(prompt="none")), RP_CB)
    assert params["error"] == "login_required" and params["state"] == "st-123" and params["iss"] == pixie.issuer


def test_prompt_none_with_session_returns_a_code(pixie: Pixie, alice_browser: Any) -> None:
    """OP-prompt-none-LoggedIn: signed in and consented, the code comes back without any page."""
    browser, first = alice_browser
    proof = Pkce.new()
    params = redirect_params(browser.authorize(oidc_pairs(prompt="none", challenge=proof.challenge, nonce="pn")), RP_CB)
    with pixie.client() as http:
        claims = verify_id_token(pixie, redeem(http, params["code"], proof.verifier)["id_token"], nonce="pn")
    assert claims["sub"] == first["sub"] and claims["sid"] == first["sid"] and claims["auth_time"] == first["auth_time"]


def test_prompt_none_without_consent_is_consent_required(alice_browser: Any) -> None:
    """Core §3.1.2.6: signed in but never consented to this client: ``consent_required``."""
    browser, _ = alice_browser
    params = redirect_params(browser.authorize(oidc_pairs("rp-rs", prompt="none")), RP_CB)
    assert params["error"] == "consent_required"


def test_prompt_login_forces_a_new_login(pixie: Pixie, alice_browser: Any) -> None:
    """OP-prompt-login: a signed-in user is asked to sign in again; the new ID token's auth_time is the new login."""
    browser, first = alice_browser
    time.sleep(1.1)
    proof = Pkce.new()
    pairs = oidc_pairs(prompt="login", challenge=proof.challenge)
    page = browser.follow(browser.authorize(pairs), "/login")
    params = redirect_params(browser.submit_login(page, "alice", PASSWORDS["alice"]), RP_CB)
    with pixie.client() as http:
        claims = verify_id_token(pixie, redeem(http, params["code"], proof.verifier)["id_token"])
    assert claims["auth_time"] > first["auth_time"]


def test_prompt_consent_asks_again(alice_browser: Any) -> None:
    """Core §3.1.2.1 ``prompt=consent``: the consent page even though the scopes were granted."""
    browser, _ = alice_browser
    response = browser.authorize(oidc_pairs(prompt="consent"))
    assert response.status_code == 303 and response.headers["location"].startswith("/consent")


def test_max_age_forces_login_when_the_session_is_older(pixie: Pixie) -> None:
    """OP-Req-max_age=1 and =10000: an older sign-in must sign in again, a recent one passes; auth_time is then in
    the ID token."""
    tokens, browser = sign_in_tokens(pixie, "bob")
    with browser:
        signed_in_at = verify_id_token(pixie, tokens["id_token"])["auth_time"]
        proof = Pkce.new()
        recent = redirect_params(browser.authorize(oidc_pairs(max_age="10000", challenge=proof.challenge)), RP_CB)
        with pixie.client() as http:
            claims = verify_id_token(pixie, redeem(http, recent["code"], proof.verifier)["id_token"])
        assert claims["auth_time"] == signed_in_at
        time.sleep(2.1)
        again = browser.authorize(oidc_pairs(max_age="1"))
        assert again.status_code == 303 and again.headers["location"].startswith("/login")
        none = redirect_params(browser.authorize(oidc_pairs(max_age="1", prompt="none")), RP_CB)
        assert none["error"] == "login_required"


@pytest.mark.parametrize("value", ["-1", "1.5", "soon", "99999999999"])
def test_malformed_max_age_is_invalid_request(pixie: Pixie, value: str) -> None:
    with Browser(pixie) as browser:
        params = redirect_params(browser.authorize(oidc_pairs(max_age=value)), RP_CB)
    assert params["error"] == "invalid_request"


def test_login_hint_prefills_the_username(pixie: Pixie) -> None:
    """OP-Req-login_hint: the hint is the login form's username (escaped like any value)."""
    with Browser(pixie) as browser:
        page = browser.login_page(oidc_pairs(login_hint="bob"))
        assert 'value="bob"' in page.text
        hostile = browser.login_page(oidc_pairs(login_hint='"><script>x</script>'))
        assert "<script>x" not in hostile.text


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"ui_locales": "fr-CA fr en", "id_token_hint": "anything", "display": "page"}, None),
        ({"response_mode": "query"}, None),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"response_mode": "form_post"}, None),
        ({"response_mode": "form_post_jwt"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example/req"}, "request_not_supported"),
        ({"nonce": "x" * 513}, "invalid_request"),
    ],
)
def test_request_parameters(pixie: Pixie, extra: dict[str, str], error: str | None) -> None:
    """OP-Req-ui_locales, -id_token_hint (accepted), response_mode (query or form_post), request objects (not
    supported)."""
    with Browser(pixie) as browser:
        response = browser.authorize(oidc_pairs(**extra))
    if error is None:
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    else:
        assert redirect_params(response, RP_CB)["error"] == error


# --- userinfo and claims by scope ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid", {"sub"}),
        ("openid profile", {"sub", "name", "given_name", "family_name", "preferred_username"}),
        ("openid email", {"sub", "email", "email_verified"}),
        (
            "openid profile email",
            {"sub", "name", "given_name", "family_name", "preferred_username", "email", "email_verified"},
        ),
    ],
)
def test_userinfo_claims_by_scope(pixie: Pixie, scope: str, expected: set[str]) -> None:
    """OP-scope-profile, OP-scope-email, OP-UserInfo-Endpoint: the claims each scope releases, ``sub`` equal to the
    ID token's; GET and POST alike."""
    tokens, browser = sign_in_tokens(pixie, "alice", scope=scope)
    browser.close()
    with pixie.client() as http:
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        by_get, by_post = http.get("/userinfo", headers=headers), http.post("/userinfo", headers=headers)
    for response in (by_get, by_post):
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        claims = response.json()
        assert set(claims) == expected
        assert claims["sub"] == verify_id_token(pixie, tokens["id_token"])["sub"]
    if "email" in expected:
        assert by_get.json()["email"] == "alice@example.com" and by_get.json()["email_verified"] is True
    if "name" in expected:
        assert by_get.json()["name"] == "Alice Smith"


def test_userinfo_leaves_out_what_a_user_does_not_have(pixie: Pixie) -> None:
    """Core §5.3.2: claims without a value are omitted, not null."""
    tokens, browser = sign_in_tokens(pixie, "bob")
    browser.close()
    with pixie.client() as http:
        claims = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert claims == {"sub": pixie.user_ids["bob"], "preferred_username": "bob"}


def test_userinfo_refusals(pixie: Pixie, http: httpx.Client) -> None:
    """RFC 6750 §3.1 and Core §5.3.3: no token → 401 with a bare challenge; a bad or revoked token → 401
    ``invalid_token``; a token without ``openid`` → 403 ``insufficient_scope``."""
    bare = http.get("/userinfo")
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    bad = http.get("/userinfo", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert bad.headers["cache-control"] == "no-store"

    tokens, browser = sign_in_tokens(pixie, "bob", client_id="plain", scope="properties:read")
    browser.close()
    no_openid = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert no_openid.status_code == 403 and 'error="insufficient_scope"' in no_openid.headers["www-authenticate"]

    tokens, browser = sign_in_tokens(pixie, "bob")
    browser.close()
    revoked = http.post("/revoke", data={"token": tokens["access_token"], "client_id": "rp"})
    assert revoked.status_code == 200
    after = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert after.status_code == 401 and 'error="invalid_token"' in after.headers["www-authenticate"]


# --- key rotation ----------------------------------------------------------------------------------------------------


def test_key_rotation_keeps_ids_verifiable_by_kid(served: Served) -> None:
    """OP-Rotation-OP-Sig: after a rotation the ID token is signed by the new key, named by its ``kid`` in the JWKS
    (it was published as ``next`` before), and tokens signed before still verify (the old key is ``retiring``)."""
    pixie = served.pixie
    before, browser = sign_in_tokens(pixie, "dave", client_id="rp-rs")
    browser.close()
    old_kid = jwt_part(before["id_token"], 0)["kid"]
    with pixie.client() as http:
        published_before = {key["kid"] for key in http.get("/jwks.json").json()["keys"]}
    served.rotate_keys()
    after, browser = sign_in_tokens(pixie, "dave", client_id="rp-rs")
    browser.close()
    new_kid = jwt_part(after["id_token"], 0)["kid"]
    assert new_kid != old_kid and new_kid in published_before
    verify_id_token(pixie, after["id_token"], client_id="rp-rs")
    verify_id_token(pixie, before["id_token"], client_id="rp-rs")
    assert jwt_part(after["id_token"], 0)["alg"] == "RS256"


def test_form_post_response_mode(pixie: Pixie, http: httpx.Client) -> None:
    """OAuth 2.0 Form Post Response Mode §2: the response is a page whose form posts ``code``, ``state`` and ``iss``
    to the redirect URI (auto-submitted by our own script: CSP allows only 'self' scripts and that form target),
    never cached; an error goes back the same way. Discovery lists the mode."""
    assert "form_post" in http.get("/.well-known/openid-configuration").json()["response_modes_supported"]
    _, browser = sign_in_tokens(pixie, "bob")
    with browser:
        proof = Pkce.new()
        page = browser.authorize(oidc_pairs(response_mode="form_post", challenge=proof.challenge))
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert f'action="{RP_CB}"' in page.text and "/static/form_post.js" in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "form-action 'self' http://127.0.0.1:9999" in policy
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text))
        assert fields["state"] == "st-123" and fields["iss"] == pixie.issuer
        claims = verify_id_token(pixie, redeem(http, fields["code"], proof.verifier)["id_token"])
        assert claims["sub"] == pixie.user_ids["bob"]
    with Browser(pixie) as anonymous:
        failed = anonymous.authorize(oidc_pairs(response_mode="form_post", prompt="none"))
        assert failed.status_code == 200 and 'name="error" value="login_required"' in failed.text
