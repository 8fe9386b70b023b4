"""Any step of a flow may land on any instance: the pending request, the session, the CSRF binding, codes and
refresh families live in the database, so two processes (or ``--workers 2``) behave as one server.

Spec: RFC 6749 §4.1 (the flow), RFC 9700 §4.14.2 (refresh reuse revokes the family), RFC 9207 (one issuer).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from lifecycle.support import refresh
from livesupport import run_coroutine
from scaleout.dbcheck import check_database, family_state
from scaleout.support import (
    ALICE,
    ISSUER,
    SCOPES,
    CrossBrowser,
    Instance,
    new_family,
    running,
    server_faults,
    sign_in_and_consent,
)
from spec.support import SPA_CB, Pkce, assert_json_error, authorize_pairs, jwt_part, redirect_params, token_request

pytestmark = pytest.mark.postgres


def _kids(on: Instance) -> set[str]:
    return {key["kid"] for key in httpx.get(f"{on.base}/jwks.json").json()["keys"]}


async def test_one_flow_walks_across_two_instances(pair: tuple[Instance, Instance], scaleout_db: str) -> None:
    """Request on A, login on B, consent on A, code redeemed on B, refresh on A, replay on B: reuse is detected
    on B and the whole family is revoked, so A's fresh token fails on A too."""
    a, b = pair
    proof = Pkce.new()
    with CrossBrowser() as browser:
        started = browser.authorize(
            a, authorize_pairs(client_id="app", challenge=proof.challenge, scope=" ".join(SCOPES))
        )
        login_page = browser.page(b, started, "/login")  # the pending request A stored, read by B
        logged_in = browser.post_form(b, "/login", login_page, username=ALICE[0], password=ALICE[1])
        assert browser.session_cookie(), "B set the SSO session cookie"
        consent_page = browser.page(a, logged_in, "/consent")  # B's session and A's CSRF cookie, checked by A
        code = redirect_params(browser.post_form(a, "/consent", consent_page, decision="approve"), SPA_CB)
    assert code["iss"] == ISSUER

    with httpx.Client(base_url=b.base, timeout=20) as on_b, httpx.Client(base_url=a.base, timeout=20) as on_a:
        issued = token_request(on_b, code["code"], proof.verifier, client_id="app")
        assert issued.status_code == 200, issued.text
        first = issued.json()
        header, claims = jwt_part(first["access_token"], 0), jwt_part(first["access_token"], 1)
        assert claims["iss"] == ISSUER
        assert header["kid"] in _kids(a) & _kids(b), "a token from B verifies against either instance's JWKS"

        rotated = refresh(on_a, first["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()["refresh_token"]

        assert_json_error(refresh(on_b, first["refresh_token"]), "invalid_grant")
        assert_json_error(refresh(on_a, second), "invalid_grant")

    family = await family_state(scaleout_db, first["refresh_token"])
    assert family.revoked_reason == "refresh_reuse"
    assert family.live_tokens == 0
    assert (await check_database(scaleout_db)).inconsistencies == []
    assert server_faults(a) == server_faults(b) == []


def test_session_and_csrf_cookies_work_on_either_instance(pair: tuple[Instance, Instance]) -> None:
    """The SSO session (stored hashed in the database) made on A is honoured by B; the CSRF binding set by A is
    checked by B, and a forged one is refused there. Logging out on B ends the session for A."""
    a, b = pair
    with CrossBrowser() as browser:
        sign_in_and_consent(browser, a, "app")
        pairs = authorize_pairs(client_id="app", scope=" ".join(SCOPES))
        assert "code" in redirect_params(browser.authorize(b, pairs), SPA_CB), "B knows A's session: SSO"

        started = browser.authorize(a, [*authorize_pairs(client_id="app"), ("prompt", "login")])
        page = browser.page(b, started, "/login")
        # A's CSRF cookie is in the jar; a form token that does not match it (and the hash A stored) is refused.
        forged = browser.post_form(b, "/login", page, username=ALICE[0], password=ALICE[1], csrf_token="forged")
        assert forged.status_code == 403, forged.text[:300]

        logout = browser.http.post(f"{b.base}/logout", headers={"Origin": ISSUER})  # the browser's origin: the issuer
        assert logout.status_code == 200
        again = browser.authorize(a, [*authorize_pairs(client_id="app"), ("prompt", "none")])
        assert redirect_params(again, SPA_CB)["error"] == "login_required", "A sees B's logout"


def test_workers_share_nothing_but_the_database(scaleout_db: str, workdir: Path) -> None:
    """``pixie serve --workers 2``: two worker processes; every request on a new connection (so the kernel
    spreads them over both), flows complete and reuse is still detected. SIGTERM then stops every worker and the
    command exits 0."""
    with running("workers", scaleout_db, workdir, workers=2) as served:
        workers = served.wait_for_workers(2)
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with (
            CrossBrowser(limits=no_reuse) as browser,
            httpx.Client(base_url=served.base, timeout=20, limits=no_reuse) as http,
        ):
            sign_in_and_consent(browser, served, "app")
            for _ in range(3):
                tokens = new_family(browser, served, "app")
                rotated = refresh(http, tokens["refresh_token"])
                assert rotated.status_code == 200, rotated.text
                assert_json_error(refresh(http, tokens["refresh_token"]), "invalid_grant")
                assert_json_error(refresh(http, rotated.json()["refresh_token"]), "invalid_grant")
        assert server_faults(served) == []
        assert served.stop() == 0, served.log()[-2000:]
        assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")], "a worker outlived the stop"
    assert run_coroutine(check_database(scaleout_db)).inconsistencies == []
