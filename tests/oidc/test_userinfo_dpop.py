"""``/userinfo`` with a DPoP-bound access token: the DPoP scheme and a proof for this request are required; the
same token sent as a Bearer token, a replayed proof, a proof of another key or for another request are refused
with a ``DPoP`` challenge.

Spec: OpenID Connect Core 1.0 §5.3; RFC 9449 §7.1 (proofs at a protected resource), §7.2 (no downgrade), §11.1.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from oidc.support import RP_CB, log_in, oidc_pairs
from pixie.client.dpop import DPoPKey
from spec.support import Browser, Pixie, Pkce


def _bound_tokens(pixie: Pixie, key: DPoPKey) -> dict[str, Any]:
    proof = Pkce.new()
    with Browser(pixie) as browser:
        params = log_in(browser, oidc_pairs(challenge=proof.challenge), "alice")
    with pixie.client() as http:
        response = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "code_verifier": proof.verifier,
                "client_id": "rp",
                "redirect_uri": RP_CB,
            },
            headers={"DPoP": key.proof("POST", f"{pixie.base}/token")},
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["token_type"] == "DPoP"
    return body


def _challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    header = response.headers["www-authenticate"]
    return header.split(" ", 1)[0], dict(re.findall(r'(\w+)="([^"]*)"', header))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_answers_a_bound_token_with_its_proof(pixie: Pixie, method: str) -> None:
    key = DPoPKey.generate()
    token = _bound_tokens(pixie, key)["access_token"]
    with pixie.client() as http:
        proof = key.proof(method, f"{pixie.base}/userinfo", access_token=token)
        answer = http.request(method, "/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == pixie.user_ids["alice"]


@pytest.mark.parametrize("attack", ["as-bearer", "no-proof", "replayed", "other-key", "other-url", "other-method"])
def test_userinfo_refuses_stolen_or_mismatched_use(pixie: Pixie, attack: str) -> None:
    key = DPoPKey.generate()
    token = _bound_tokens(pixie, key)["access_token"]
    url = f"{pixie.base}/userinfo"
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, access_token=token)}
    with pixie.client() as http:
        if attack == "as-bearer":
            headers = {"Authorization": f"Bearer {token}"}
        elif attack == "no-proof":
            del headers["DPoP"]
        elif attack == "replayed":
            assert http.get("/userinfo", headers=headers).status_code == 200
        elif attack == "other-key":
            headers["DPoP"] = DPoPKey.generate().proof("GET", url, access_token=token)
        elif attack == "other-url":
            headers["DPoP"] = key.proof("GET", f"{pixie.base}/token", access_token=token)
        else:
            headers["DPoP"] = key.proof("POST", url, access_token=token)
        refused = http.get("/userinfo", headers=headers)
    assert refused.status_code == 401, refused.text
    assert refused.headers["cache-control"] == "no-store"
    scheme, params = _challenge(refused)
    if attack == "as-bearer":
        assert scheme == "Bearer" and params["error"] == "invalid_token"
    else:
        assert scheme == "DPoP" and params["error"] == "invalid_dpop_proof"
        assert "ES256" in params["algs"].split()
