"""DPoP across two ``pixie serve`` processes on one PostgreSQL: a proof accepted by one instance is a replay on the
other, and a refresh token bound to a key on one instance needs that key on the other.

Spec: RFC 9449 §11.1 (replay, across every instance), §5 (refresh tokens of public clients bound to the key).
"""

from __future__ import annotations

import httpx
import pytest

from pixie.client.dpop import DPoPKey
from scaleout.support import CC_SECRET, ISSUER, SCOPES, CrossBrowser, Instance, sign_in_and_consent
from spec.support import SPA_CB, Pkce, assert_json_error, authorize_pairs, jwt_part, redirect_params

pytestmark = pytest.mark.postgres


def test_a_proof_used_on_one_instance_is_a_replay_on_the_other(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    proof = DPoPKey.generate().proof("POST", f"{ISSUER}/token")  # both serve the one public issuer

    def send(on: Instance) -> httpx.Response:
        return httpx.post(
            f"{on.base}/token",
            data={"grant_type": "client_credentials"},
            auth=("probe-keys", CC_SECRET),
            headers={"DPoP": proof},
            timeout=20,
        )

    assert send(a).json()["token_type"] == "DPoP"
    refused = assert_json_error(send(b), "invalid_dpop_proof")
    assert "already used" in refused["error_description"]


def test_a_bound_refresh_token_needs_its_key_on_every_instance(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    key, thief = DPoPKey.generate(), DPoPKey.generate()
    pkce = Pkce.new()
    with CrossBrowser() as browser:
        sign_in_and_consent(browser, a, "dpop-app")
        pairs = authorize_pairs(client_id="dpop-app", challenge=pkce.challenge, scope=" ".join(SCOPES))
        code = redirect_params(browser.authorize(a, pairs), SPA_CB)["code"]

    def token(on: Instance, data: dict[str, str], signer: DPoPKey) -> httpx.Response:
        proof = signer.proof("POST", f"{ISSUER}/token")
        return httpx.post(
            f"{on.base}/token", data={"client_id": "dpop-app", **data}, headers={"DPoP": proof}, timeout=20
        )

    issued = token(
        a,
        {"grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier, "redirect_uri": SPA_CB},
        key,
    )
    assert issued.status_code == 200, issued.text
    assert jwt_part(issued.json()["access_token"], 1)["cnf"]["jkt"] == key.thumbprint
    refresh = {"grant_type": "refresh_token", "refresh_token": issued.json()["refresh_token"]}
    assert_json_error(token(b, refresh, thief), "invalid_dpop_proof")
    renewed = token(b, refresh, key)
    assert renewed.status_code == 200, renewed.text
    assert jwt_part(renewed.json()["access_token"], 1)["cnf"]["jkt"] == key.thumbprint
