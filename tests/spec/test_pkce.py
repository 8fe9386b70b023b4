"""ARCHITECTURE §6.2: PKCE for every client, S256 only; ``code_verifier`` accepted iff a challenge was sent.

Spec: RFC 7636 §4.3, §4.4.1, §4.5, §4.6; RFC 9700 §2.1.1, §4.8.2 (PKCE downgrade); OAuth 2.1 §4.1.1, §4.1.3.
"""

from __future__ import annotations

import httpx
import pytest

from spec.support import (
    SPA_CB,
    WEB_CB,
    WEB_SECRET,
    Browser,
    Pkce,
    assert_json_error,
    authorize_pairs,
    redirect_params,
    token_request,
)

# A signed-in user who consented: if any of these passed validation the response would carry a code at once.
NO_CHALLENGE = [
    pytest.param("spa", SPA_CB, authorize_pairs(drop=["code_challenge", "code_challenge_method"]), id="public-none"),
    pytest.param("spa", SPA_CB, authorize_pairs(drop=["code_challenge"]), id="public-method-only"),
    pytest.param(
        "spa", SPA_CB, authorize_pairs(drop=["code_challenge"], code_challenge_method="plain"), id="public-plain-only"
    ),
    pytest.param("spa", SPA_CB, authorize_pairs(code_challenge=""), id="public-empty-challenge"),
    pytest.param(
        "web",
        WEB_CB,
        authorize_pairs(client_id="web", redirect_uri=WEB_CB, drop=["code_challenge", "code_challenge_method"]),
        id="confidential-none",
    ),
    pytest.param(
        "web",
        WEB_CB,
        authorize_pairs(client_id="web", redirect_uri=WEB_CB, code_challenge_method="plain", challenge="p" * 43),
        id="confidential-plain",
    ),
    pytest.param(
        "spa",
        SPA_CB,
        authorize_pairs(code_challenge_method="plain", challenge="p" * 43, prompt="none"),
        id="public-plain-prompt-none",
    ),
]


@pytest.mark.parametrize(("client_id", "redirect_uri", "pairs"), NO_CHALLENGE)
def test_no_code_without_s256_challenge(
    alice: Browser, client_id: str, redirect_uri: str, pairs: list[tuple[str, str]]
) -> None:
    """RFC 9700 §4.8.2: the server must make sure a code is never issued without a challenge (else a verifier-less
    redemption is possible); RFC 9700 §2.1.1 / OAuth 2.1 §4.1.1: PKCE for public *and* confidential clients,
    ``plain`` refused. Every case is ``invalid_request`` at the client and carries no code."""
    params = redirect_params(alice.authorize(pairs), redirect_uri)
    assert params["error"] == "invalid_request"
    assert "code" not in params


def _code(alice: Browser, proof: Pkce) -> str:
    return alice.code(authorize_pairs(challenge=proof.challenge))


def test_verifier_for_another_challenge_fails(alice: Browser, http: httpx.Client) -> None:
    """RFC 7636 §4.6: the verifier must transform to *this* code's challenge; RFC 9700 §4.8.2 / §4.5 (code
    injection): a verifier from another flow does not redeem the code → ``invalid_grant``."""
    mine, other = Pkce.new(), Pkce.new()
    code = _code(alice, mine)
    _code(alice, other)  # the other verifier is real and valid for its own code
    assert_json_error(token_request(http, code, other.verifier), "invalid_grant")


VERIFIER_ERRORS = [
    pytest.param(None, "invalid_request", id="missing[RFC9700-4.8.2]"),
    pytest.param("", "invalid_request", id="empty[RFC6749-3.2]"),
    pytest.param("A" * 43, "invalid_grant", id="wrong[RFC7636-4.6]"),
    pytest.param("short", "invalid_grant", id="too-short[RFC7636-4.1]"),
    pytest.param("A" * 129, "invalid_grant", id="too-long[RFC7636-4.1]"),
    pytest.param("CHALLENGE", "invalid_grant", id="challenge-as-verifier[RFC7636-4.6]"),
]


@pytest.mark.parametrize(("verifier", "error"), VERIFIER_ERRORS)
def test_bad_verifier(alice: Browser, http: httpx.Client, verifier: str | None, error: str) -> None:
    """RFC 7636 §4.5/§4.6 and RFC 9700 §4.8.2: a code whose request had a challenge needs the matching verifier;
    missing → ``invalid_request``; not matching (the challenge itself, i.e. a ``plain`` downgrade attempt,
    included) → ``invalid_grant``."""
    proof = Pkce.new()
    code = _code(alice, proof)
    sent = proof.challenge if verifier == "CHALLENGE" else verifier
    data = {"grant_type": "authorization_code", "code": code, "client_id": "spa", "redirect_uri": SPA_CB}
    if sent is not None:
        data["code_verifier"] = sent
    assert_json_error(http.post("/token", data=data), error)


def test_confidential_client_needs_verifier_too(alice: Browser, http: httpx.Client) -> None:
    """RFC 9700 §2.1.1 / OAuth 2.1 §4.1.3: a client secret does not replace PKCE."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id="web", redirect_uri=WEB_CB, challenge=proof.challenge), WEB_CB)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": WEB_CB}
    assert_json_error(http.post("/token", data=data, auth=("web", WEB_SECRET)), "invalid_request")


def test_matching_verifier_redeems(alice: Browser, http: httpx.Client) -> None:
    """RFC 7636 §4.6: the control case: the right verifier gets tokens."""
    proof = Pkce.new()
    response = token_request(http, _code(alice, proof), proof.verifier)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
