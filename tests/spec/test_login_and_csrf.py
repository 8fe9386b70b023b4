"""The login and consent forms: CSRF tokens bound to the pending request and to this browser, one code per
consent, and a login failure that never tells which part was wrong (issue 3 item 2).

Spec: RFC 6749 §10.12 and RFC 9700 §4.7 (CSRF); RFC 6749 §4.1.2 (one code per authorization); RFC 9700 §4.12
(303 after POST); issue 3 item 2 and the OWASP Authentication Cheat Sheet (generic failure message, no user
enumeration).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable
from urllib.parse import urlsplit

import httpx
import pytest

from livesupport import run_coroutine
from spec.support import (
    GENERIC_LOGIN_FAILURE,
    PASSWORDS,
    SPA_CB,
    TLS,
    Browser,
    Pixie,
    assert_error_page,
    authorize_pairs,
    hidden_fields,
    redirect_params,
)


def _no_session_cookie(response: httpx.Response) -> None:
    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith("pixie-session=")]
    assert "location" not in response.headers


CSRF_TAMPERING = [
    pytest.param({"csrf_token": "x" * 43}, id="wrong-token"),
    pytest.param({"csrf_token": ""}, id="empty-token"),
]


@pytest.mark.parametrize("override", CSRF_TAMPERING)
def test_login_with_bad_csrf_token(browser: Browser, override: dict[str, str]) -> None:
    """RFC 6749 §10.12 / RFC 9700 §4.7: a login POST whose CSRF token does not match is refused (403) even with the
    right password, and no session cookie is set."""
    page = browser.login_page(authorize_pairs())
    response = browser.submit_login(page, "alice", PASSWORDS["alice"], **override)
    assert_error_page(response, 403)
    _no_session_cookie(response)


def test_login_without_the_per_request_cookie(pixie: Pixie, browser: Browser) -> None:
    """RFC 9700 §4.7: the form's token is bound to the browser that started the request (double submit cookie):
    another browser posting the same hidden fields — a forged cross-site form — is refused."""
    page = browser.login_page(authorize_pairs())
    with Browser(pixie) as attacker:
        response = attacker.submit_login(page, "alice", PASSWORDS["alice"])
    assert_error_page(response, 403)
    _no_session_cookie(response)


def test_login_with_token_of_another_request(browser: Browser) -> None:
    """RFC 9700 §4.7: a CSRF token is bound to its own pending request; the token of request A with the id of
    request B (both cookies present) is refused."""
    first = browser.login_page(authorize_pairs(state="a"))
    second = browser.login_page(authorize_pairs(state="b"))
    token_a = hidden_fields(first.text)["csrf_token"]
    response = browser.submit_login(second, "alice", PASSWORDS["alice"], csrf_token=token_a)
    assert_error_page(response, 403)
    _no_session_cookie(response)


def test_login_for_unknown_request(browser: Browser) -> None:
    """Issue 3 item 1: a request id that was never issued (or expired) is refused with our page."""
    page = browser.login_page(authorize_pairs())
    response = browser.submit_login(page, "alice", PASSWORDS["alice"], request="never-issued")
    assert_error_page(response, 400)
    _no_session_cookie(response)


def _consent_page(alice: Browser, state: str = "st-123") -> httpx.Response:
    return alice.follow(alice.authorize(authorize_pairs(prompt="consent", state=state)), "/consent")


@pytest.mark.parametrize("override", CSRF_TAMPERING)
def test_consent_with_bad_csrf_token(alice: Browser, override: dict[str, str]) -> None:
    """RFC 9700 §4.7: the consent POST is refused (403, no redirect, no code) with a wrong CSRF token."""
    response = alice.submit_consent(_consent_page(alice), **override)
    assert_error_page(response, 403)


def test_consent_from_another_browser(pixie: Pixie, alice: Browser) -> None:
    """RFC 9700 §4.7: a consent form replayed from a browser that carries the user's session but not the
    per-request cookie is refused: the decision belongs to the browser that was asked."""
    page = _consent_page(alice)
    cookie = alice.http.cookies.get("pixie-session")
    with Browser(pixie, cookies={"pixie-session": cookie or ""}) as other:
        response = other.submit_consent(page)
    assert response.status_code in (400, 403)
    assert "location" not in response.headers


def test_consent_double_submit_issues_one_code(alice: Browser) -> None:
    """RFC 6749 §4.1.2: one authorization, one code: submitting the consent form twice does not mint a second."""
    page = _consent_page(alice)
    first = alice.submit_consent(page)
    assert "code" in redirect_params(first, SPA_CB)
    second = alice.submit_consent(page)
    assert second.status_code >= 400 and "location" not in second.headers
    assert "code=" not in second.text


def test_consent_concurrent_submits_issue_one_code(pixie: Pixie, alice: Browser) -> None:
    """RFC 6749 §4.1.2: four simultaneous submissions of one consent form yield exactly one code."""
    page = _consent_page(alice)
    cookies = dict(alice.http.cookies.items())
    results: list[httpx.Response] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        with Browser(pixie, cookies=cookies) as twin:
            barrier.wait()
            results.append(twin.submit_consent(page))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4
    codes = [r for r in results if r.status_code == 303 and "code=" in r.headers.get("location", "")]
    assert len(codes) == 1, [(r.status_code, r.headers.get("location")) for r in results]


def test_consent_denied(pixie: Pixie, alice: Browser) -> None:
    """RFC 6749 §4.1.2.1: the user denies → ``access_denied`` at the client with state and ``iss`` (RFC 9207 §2),
    303 after the POST (RFC 9700 §4.12)."""
    response = alice.submit_consent(_consent_page(alice, state="deny-me"), decision="deny")
    params = redirect_params(response, SPA_CB)
    assert params["error"] == "access_denied"
    assert params["state"] == "deny-me" and params["iss"] == pixie.issuer
    assert "code" not in params


def _normalised(response: httpx.Response, username: str) -> str:
    html = re.sub(r'name="(request|csrf_token)" value="[^"]*"', r'name="\1" value=""', response.text)
    return html.replace(f'value="{username}"', 'value=""')


LOGIN_FAILURES = [
    pytest.param("alice", "wrong-password-1", id="wrong-password"),
    pytest.param("nobody-here", "wrong-password-1", id="unknown-user"),
    pytest.param("mallory", PASSWORDS["mallory"], id="disabled-user-right-password"),
    pytest.param("", "wrong-password-1", id="empty-username"),
]


def test_login_failures_are_indistinguishable(browser: Browser) -> None:
    """Issue 3 item 2: wrong password, unknown user and disabled user get the same status and the same page with the
    one generic message — nothing tells which usernames exist. No session is created."""
    pages = []
    statuses = set()
    for param in LOGIN_FAILURES:
        username, password = param.values
        page = browser.login_page(authorize_pairs())
        response = browser.submit_login(page, str(username), str(password))
        _no_session_cookie(response)
        assert response.text.count(GENERIC_LOGIN_FAILURE) == 1, param.id
        statuses.add(response.status_code)
        pages.append(_normalised(response, str(username)))
    assert statuses == {200}
    assert all(page == pages[0] for page in pages)


def test_login_then_consent_then_code(pixie: Pixie, browser: Browser) -> None:
    """RFC 6749 §4.1.1–§4.1.2 and RFC 9700 §4.12: login (303 to consent) → consent (303 to the client) → code with
    state and iss; both POSTs answer 303 so the browser does not re-POST to the client."""
    page = browser.login_page(authorize_pairs(client_id="subset-app", state="full", prompt="consent"))
    logged_in = browser.submit_login(page, "dave", PASSWORDS["dave"])
    assert logged_in.status_code == 303
    assert urlsplit(logged_in.headers["location"]).path == "/consent"
    consent = browser.follow(logged_in, "/consent")
    assert "properties:read" in consent.text
    params = redirect_params(browser.submit_consent(consent), SPA_CB)
    assert set(params) == {"code", "state", "iss"} and params["state"] == "full"


def test_pending_request_lives_ten_minutes(pixie: Pixie, browser: Browser) -> None:
    """Issue 3 item 1: the pending authorization request is stored server-side with a 10-minute timeout."""
    request_id = hidden_fields(browser.login_page(authorize_pairs()).text)["request"]
    [(created_at, expires_at)] = pixie.query(
        "SELECT created_at, expires_at FROM authorization_requests WHERE request_id = ?", (request_id,)
    )
    assert expires_at - created_at == pytest.approx(600)


def test_expired_pending_request_is_refused(pixie: Pixie, browser: Browser) -> None:
    """Issue 3 item 1: after its timeout a pending request cannot be completed, even with the right password and
    a valid CSRF token: our page, no session, no redirect."""
    page = browser.login_page(authorize_pairs())
    request_id = hidden_fields(page.text)["request"]
    changed = pixie.execute(
        "UPDATE authorization_requests SET expires_at = ? WHERE request_id = ?", (time.time() - 1, request_id)
    )
    assert changed == 1
    response = browser.submit_login(page, "alice", PASSWORDS["alice"])
    assert_error_page(response, 400)
    _no_session_cookie(response)


def test_password_check_does_not_block_the_event_loop(pixie: Pixie) -> None:
    """Issue 3 item 2: Argon2id runs off the event loop: while several logins verify passwords, a cheap request
    is answered long before they finish."""

    async def scenario() -> tuple[float, list[float]]:
        async with httpx.AsyncClient(base_url=pixie.base, verify=TLS, timeout=30) as client:
            forms = []
            for _ in range(3):
                start = await client.get("/authorize", params=tuple(authorize_pairs()))
                page = await client.get(start.headers["location"])
                forms.append({**hidden_fields(page.text), "username": "alice", "password": "wrong-password-x"})
            loop = asyncio.get_running_loop()

            async def timed(request: Awaitable[httpx.Response]) -> float:
                began = loop.time()
                await request
                return loop.time() - began

            logins = [asyncio.create_task(timed(client.post("/login", data=form))) for form in forms]
            await asyncio.sleep(0.01)
            cheap = await timed(client.get("/jwks.json"))
            return cheap, list(await asyncio.gather(*logins))

    cheap, logins = run_coroutine(scenario())
    # Were Argon2 run on the event loop, the cheap request would wait at least for the first verification, which is
    # about as long as the fastest login; measured here it is ~10x shorter.
    assert cheap < min(logins) / 3, (cheap, logins)
