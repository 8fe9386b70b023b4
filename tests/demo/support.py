"""Helpers of the demo suite: the running demo and real sign-ins through its authorization server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixie.demo.config import CLIENT_ID, SCOPES, USERS, redirect_uri
from spec.support import Browser, Pixie, Pkce, authorize_pairs, redirect_params, token_request

PASSWORDS = {user.username: user.password for user in USERS}
FULL_SCOPE = " ".join(SCOPES)


@dataclass(frozen=True)
class Demo:
    pixie: Pixie
    demo_db: Path

    @property
    def base(self) -> str:
        return self.pixie.base

    @property
    def api(self) -> str:
        return f"{self.pixie.base}/api"


def consent_page_and_code(
    demo: Demo, username: str, *, client_id: str = CLIENT_ID, scope: str = FULL_SCOPE
) -> tuple[str, str, Pkce]:
    """Sign ``username`` in through a fresh browser and approve consent; the consent page's HTML, the code and
    the PKCE pair."""
    proof = Pkce.new()
    callback = redirect_uri(demo.base)
    # prompt=consent: the page is shown even when an earlier test's approval is remembered.
    pairs = authorize_pairs(
        client_id=client_id, redirect_uri=callback, scope=scope, challenge=proof.challenge, prompt="consent"
    )
    with Browser(demo.pixie) as browser:
        page = browser.login_page(pairs)
        consent = browser.follow(browser.submit_login(page, username, PASSWORDS[username]), "/consent")
        params = redirect_params(browser.submit_consent(consent), callback)
    assert "code" in params, params
    return consent.text, params["code"], proof


def sign_in_tokens(demo: Demo, username: str, *, client_id: str = CLIENT_ID, scope: str = FULL_SCOPE) -> dict[str, Any]:
    """A token response for ``username`` from the real flow (RFC 6749 §4.1, RFC 7636)."""
    _, code, proof = consent_page_and_code(demo, username, client_id=client_id, scope=scope)
    with demo.pixie.client() as http:
        response = token_request(http, code, proof.verifier, client_id=client_id, redirect_uri=redirect_uri(demo.base))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
