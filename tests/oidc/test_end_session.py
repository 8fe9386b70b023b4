"""RP-Initiated Logout at ``/end_session``: with a valid ``id_token_hint`` the session ends at once (and with it the
refresh tokens it produced); without one the user confirms on a CSRF-protected page; the browser only ever goes back
to a registered ``post_logout_redirect_uri``.

Spec: OpenID Connect RP-Initiated Logout 1.0 §2, §3, §4; RFC 9700 §4.7.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from oidc.support import RP_BYE, RP_CB, oidc_pairs, sign_in_tokens
from spec.support import Browser, Pixie, assert_error_page, redirect_params


def _refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "rp"})


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_logout_with_hint_ends_session_and_refresh_tokens(pixie: Pixie, method: str) -> None:
    """§2: with a valid hint the OP logs the user out and redirects to the registered URI with ``state``; the SSO
    session is gone (prompt=none now answers login_required) and its refresh tokens no longer work."""
    tokens, browser = sign_in_tokens(pixie, "dave")
    with browser, pixie.client() as http:
        params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": RP_BYE, "state": "bye-1"}
        if method == "GET":
            response = browser.http.get("/end_session", params=params)
        else:
            response = browser.http.post("/end_session", data=params)
        assert response.status_code == 303, response.text[:300]
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == RP_BYE
        assert dict(parse_qsl(location.query)) == {"state": "bye-1"}
        assert browser.session_cookie() is None
        again = redirect_params(browser.authorize(oidc_pairs(prompt="none")), RP_CB)
        assert again["error"] == "login_required"
        refused = _refresh(http, tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert userinfo.status_code == 401


def test_without_hint_the_user_confirms(pixie: Pixie) -> None:
    """§2: without a hint the OP asks the user; only the form posted back with this browser's CSRF cookie logs out.
    "Stay signed in" keeps the session."""
    tokens, browser = sign_in_tokens(pixie, "dave")
    with browser, pixie.client() as http:
        page = browser.http.get("/end_session", params={"client_id": "rp", "post_logout_redirect_uri": RP_BYE})
        assert page.status_code == 200 and "Sign out" in page.text
        assert page.headers["x-frame-options"] == "DENY"
        csrf = _csrf(page)
        fields = {"client_id": "rp", "post_logout_redirect_uri": RP_BYE}
        # Another site cannot forge the answer: without this browser's cookie the token means nothing.
        with Browser(pixie, cookies={"pixie-session": browser.session_cookie() or ""}) as forger:
            forged = forger.http.post("/end_session", data={**fields, "csrf_token": csrf, "decision": "logout"})
            assert_error_page(forged, status=403)
        stay = browser.http.post("/end_session", data={**fields, "csrf_token": csrf, "decision": "stay"})
        assert stay.status_code == 303 and stay.headers["location"] == RP_BYE
        assert _refresh(http, tokens["refresh_token"]).status_code == 200
        page = browser.http.get("/end_session")
        done = browser.http.post("/end_session", data={"csrf_token": _csrf(page), "decision": "logout"})
        assert done.status_code == 200 and "signed out" in done.text
        assert redirect_params(browser.authorize(oidc_pairs(prompt="none")), RP_CB)["error"] == "login_required"


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "rp", "post_logout_redirect_uri": "http://127.0.0.1:9999/elsewhere"},
        {"client_id": "rp", "post_logout_redirect_uri": RP_BYE + "/"},
        {"client_id": "rp-rs", "post_logout_redirect_uri": RP_BYE},  # registered for another client
        {"post_logout_redirect_uri": RP_BYE},  # no client to check it against
        {"client_id": "nobody", "post_logout_redirect_uri": RP_BYE},
        {"id_token_hint": "not-a-token", "post_logout_redirect_uri": RP_BYE},
        {"client_id": "rp\x00", "post_logout_redirect_uri": RP_BYE},  # PostgreSQL text cannot hold NUL
        {"client_id": "rp", "post_logout_redirect_uri": RP_BYE, "state": "s" * 9000},
    ],
)
def test_never_redirects_to_an_unregistered_uri(pixie: Pixie, params: dict[str, str]) -> None:
    """§3.1: the URI must exactly equal one the client registered; otherwise our error page, never a redirect."""
    with Browser(pixie) as browser:
        assert_error_page(browser.http.get("/end_session", params=params))


def test_hint_for_another_client_id_is_refused(pixie: Pixie) -> None:
    """§2: a ``client_id`` that is not the hint's audience is an error."""
    tokens, browser = sign_in_tokens(pixie, "bob")
    with browser:
        response = browser.http.get("/end_session", params={"id_token_hint": tokens["id_token"], "client_id": "rp-rs"})
        assert_error_page(response)
        assert browser.session_cookie()


def test_hint_about_another_user_asks_first(pixie: Pixie) -> None:
    """§2: when the hint names someone else than the signed-in user, the OP asks rather than logging them out."""
    bob_tokens, bob_browser = sign_in_tokens(pixie, "bob")
    bob_browser.close()
    _, dave = sign_in_tokens(pixie, "dave")
    with dave:
        page = dave.http.get("/end_session", params={"id_token_hint": bob_tokens["id_token"]})
        assert page.status_code == 200 and "csrf_token" in page.text
        assert redirect_params(dave.authorize(oidc_pairs(prompt="none")), RP_CB).get("code")


def test_pixie_logout_ends_the_sessions_refresh_tokens(pixie: Pixie) -> None:
    """Pixie's own ``POST /logout`` ends the same things as end_session: the SSO session and the refresh-token
    families signed in through it (RFC 9700 §4.14.2: revocation on logout)."""
    tokens, browser = sign_in_tokens(pixie, "dave")
    with browser, pixie.client() as http:
        response = browser.http.post("/logout", headers={"Origin": pixie.issuer})
        assert response.status_code == 200 and "signed out" in response.text
        refused = _refresh(http, tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
