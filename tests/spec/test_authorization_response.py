"""Authorization responses once the redirect URI is trusted: errors and codes go back to the client with 303,
``state`` echoed and ``iss`` (ARCHITECTURE §6.1, §6.5; issue 3 items 1 and 4).

Spec: RFC 6749 §3.1, §3.1.2, §4.1.1, §4.1.2, §4.1.2.1; RFC 7636 §4.3, §4.4.1; RFC 9207 §2; RFC 9700 §2.1.1,
§4.12; OpenID Connect Core §3.1.2.1, §3.1.2.6 (``prompt``); OAuth 2.1 §4.1.1.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from spec.support import CC_CB, QUERY_CB, SPA_CB, Browser, Pixie, authorize_pairs, redirect_params

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 Appendix B

# Each case: request parameters, expected error code. A fresh browser (no session) sends them.
REDIRECTED_ERRORS = [
    pytest.param(authorize_pairs(drop=["response_type"]), "invalid_request", id="missing-response_type[RFC6749-4.1.1]"),
    pytest.param(authorize_pairs(response_type=""), "invalid_request", id="empty-response_type[RFC6749-3.1]"),
    pytest.param(
        authorize_pairs(response_type="token"), "unsupported_response_type", id="response_type-token[RFC6749-4.1.2.1]"
    ),
    pytest.param(
        authorize_pairs(response_type="code id_token"),
        "unsupported_response_type",
        id="response_type-hybrid[RFC6749-4.1.2.1]",
    ),
    pytest.param(
        authorize_pairs(response_type="CODE"), "unsupported_response_type", id="response_type-case[RFC6749-3.1.1]"
    ),
    pytest.param(authorize_pairs(drop=["code_challenge"]), "invalid_request", id="missing-challenge[RFC7636-4.4.1]"),
    pytest.param(authorize_pairs(code_challenge=""), "invalid_request", id="empty-challenge[RFC7636-4.4.1]"),
    pytest.param(
        authorize_pairs(code_challenge_method="plain", challenge="x" * 43),
        "invalid_request",
        id="method-plain[RFC9700-2.1.1]",
    ),
    pytest.param(authorize_pairs(drop=["code_challenge_method"]), "invalid_request", id="missing-method[RFC7636-4.3]"),
    pytest.param(authorize_pairs(code_challenge_method="s256"), "invalid_request", id="method-lowercase[RFC7636-4.3]"),
    pytest.param(authorize_pairs(code_challenge_method="S512"), "invalid_request", id="method-unknown[RFC7636-4.4.1]"),
    pytest.param(authorize_pairs(challenge=CHALLENGE[:42]), "invalid_request", id="challenge-42-chars[RFC7636-4.2]"),
    pytest.param(authorize_pairs(challenge=CHALLENGE + "A"), "invalid_request", id="challenge-44-chars[RFC7636-4.2]"),
    pytest.param(
        authorize_pairs(challenge=CHALLENGE[:42] + "="), "invalid_request", id="challenge-padding[RFC7636-4.2]"
    ),
    pytest.param(authorize_pairs(challenge=CHALLENGE[:42] + "+"), "invalid_request", id="challenge-plus[RFC7636-4.2]"),
    pytest.param(authorize_pairs(challenge=CHALLENGE[:42] + "/"), "invalid_request", id="challenge-slash[RFC7636-4.2]"),
    pytest.param(
        authorize_pairs(challenge=CHALLENGE[:42] + "é"), "invalid_request", id="challenge-non-ascii[RFC7636-4.2]"
    ),
    pytest.param(authorize_pairs(challenge="x" * 128), "invalid_request", id="challenge-verifier-sized[RFC7636-4.2]"),
    pytest.param(authorize_pairs(scope="pixie:admin"), "invalid_scope", id="scope-not-allowed[RFC6749-4.1.2.1]"),
    pytest.param(
        authorize_pairs(scope="properties:read pixie:admin"), "invalid_scope", id="scope-partly-allowed[RFC6749-3.3]"
    ),
    pytest.param(
        authorize_pairs(scope='prop"erties'),
        "invalid_scope",
        id="scope-bad-chars[RFC6749-3.3]",
    ),
    pytest.param(
        authorize_pairs(scope="propérties:read"),
        "invalid_scope",
        id="scope-non-ascii[RFC6749-3.3]",
    ),
    pytest.param(
        authorize_pairs(extra=[("response_type", "code")]), "invalid_request", id="repeated-response_type[RFC6749-3.1]"
    ),
    pytest.param(
        authorize_pairs(extra=[("scope", "tenants:read")]), "invalid_request", id="repeated-scope[RFC6749-3.1]"
    ),
    pytest.param(
        authorize_pairs(extra=[("code_challenge", CHALLENGE)]), "invalid_request", id="repeated-challenge[RFC6749-3.1]"
    ),
    pytest.param(
        authorize_pairs(extra=[("code_challenge_method", "S256")]),
        "invalid_request",
        id="repeated-method[RFC6749-3.1]",
    ),
    pytest.param(
        authorize_pairs(extra=[("prompt", "login")], prompt="consent"),
        "invalid_request",
        id="repeated-prompt[RFC6749-3.1]",
    ),
    pytest.param(authorize_pairs(prompt="none"), "login_required", id="prompt-none-no-session[OIDC-3.1.2.6]"),
    pytest.param(authorize_pairs(prompt="select_account"), "invalid_request", id="prompt-unknown[OIDC-3.1.2.1]"),
    pytest.param(authorize_pairs(prompt="none login"), "invalid_request", id="prompt-none-combined[OIDC-3.1.2.1]"),
    pytest.param(
        authorize_pairs(client_id="cc-only", redirect_uri=CC_CB),
        "unauthorized_client",
        id="grant-not-allowed[RFC6749-4.1.2.1]",
    ),
]


@pytest.mark.parametrize(("pairs", "error"), REDIRECTED_ERRORS)
def test_error_after_trust_is_redirected(
    pixie: Pixie, browser: Browser, pairs: list[tuple[str, str]], error: str
) -> None:
    """RFC 6749 §4.1.2.1: once client and redirect URI are valid, errors go to the redirect URI with ``error``,
    ``error_description`` and the exact ``state``; RFC 9207 §2: with ``iss``; RFC 9700 §4.12: 303. No code."""
    request = dict(pairs)
    redirect_uri = request.get("redirect_uri", SPA_CB)
    response = browser.authorize(pairs)
    params = redirect_params(response, redirect_uri)
    assert params["error"] == error
    assert params["error_description"]
    assert params["iss"] == pixie.issuer
    assert "code" not in params
    if [name for name, _ in pairs].count("state") == 1:
        assert params["state"] == request["state"]
    assert response.headers["cache-control"] == "no-store"


def test_prompt_none_without_consent(pixie: Pixie, alice: Browser) -> None:
    """OpenID Connect Core §3.1.2.6: signed in but never consented to this client, ``prompt=none`` →
    ``consent_required`` at the client, with state and iss (RFC 9207 §2)."""
    pairs = authorize_pairs(client_id="prompt-none-app", prompt="none", state="pn")
    params = redirect_params(alice.authorize(pairs), SPA_CB)
    assert params == {
        "error": "consent_required",
        "error_description": params["error_description"],
        "state": "pn",
        "iss": pixie.issuer,
    }


def test_prompt_none_with_session_and_consent_returns_code(pixie: Pixie, alice: Browser) -> None:
    """OpenID Connect Core §3.1.2.1: ``prompt=none`` succeeds silently when nothing needs the user."""
    params = redirect_params(alice.authorize(authorize_pairs(prompt="none", state="silent")), SPA_CB)
    assert set(params) == {"code", "state", "iss"} and params["state"] == "silent"


def test_state_omitted_is_not_invented(pixie: Pixie, browser: Browser) -> None:
    """RFC 6749 §4.1.2.1: ``state`` is returned only if it was sent; ``iss`` always (RFC 9207 §2)."""
    params = redirect_params(browser.authorize(authorize_pairs(drop=["state"], response_type="token")), SPA_CB)
    assert "state" not in params and params["iss"] == pixie.issuer


@pytest.mark.parametrize(
    "state",
    [
        pytest.param("plain", id="plain"),
        pytest.param("a b&c=d/e?f#g%25", id="reserved-characters"),
        pytest.param("ünïcødé-☃", id="unicode"),
        pytest.param("x" * 2048, id="2048-chars"),
    ],
)
def test_success_response(pixie: Pixie, alice: Browser, state: str) -> None:
    """RFC 6749 §4.1.2: a code and the exact ``state``; RFC 9207 §2: ``iss`` = issuer; RFC 9700 §4.12: 303;
    ARCHITECTURE §6.5: a code-bearing response is not cached. Nothing else is added."""
    response = alice.authorize(authorize_pairs(state=state))
    params = redirect_params(response, SPA_CB)
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == state
    assert params["iss"] == pixie.issuer
    assert response.headers["cache-control"] == "no-store"


def test_code_is_unguessable(alice: Browser) -> None:
    """Issue 3 item 4 / RFC 6749 §10.10: a code is base64url, different every time, and at least as long as 256
    random bits: it is sealed with AES-256-GCM under a fresh 128-bit salt, so guessing one means forging a 128-bit
    tag (``test_codes.py`` alters and moves codes)."""
    codes = {alice.code(authorize_pairs()) for _ in range(3)}
    assert len(codes) == 3
    for code in codes:
        assert len(code) >= 43
        assert all(ch.isalnum() or ch in "-_" for ch in code)


def test_registered_query_is_retained(pixie: Pixie, alice: Browser) -> None:
    """RFC 6749 §3.1.2: the redirection endpoint's query component MUST be retained when parameters are added."""
    response = alice.authorize(authorize_pairs(client_id="withquery", redirect_uri=QUERY_CB))
    params = redirect_params(response, QUERY_CB)
    assert set(params) == {"code", "state", "iss"}
    assert urlsplit(response.headers["location"]).query.startswith("app=1&")


def test_error_keeps_registered_query(pixie: Pixie, browser: Browser) -> None:
    """RFC 6749 §3.1.2 and §4.1.2.1: error responses keep the registered query too."""
    response = browser.authorize(authorize_pairs(client_id="withquery", redirect_uri=QUERY_CB, response_type="token"))
    assert redirect_params(response, QUERY_CB)["error"] == "unsupported_response_type"


def test_unauthenticated_request_goes_to_login(browser: Browser) -> None:
    """RFC 6749 §4.1.1: a valid request without a session is sent to the login page (303), with a per-request
    CSRF cookie; the pending request lives 10 minutes (issue 3 item 1)."""
    response = browser.authorize(authorize_pairs())
    assert response.status_code == 303
    assert urlsplit(response.headers["location"]).path == "/login"
    csrf = [h for h in response.headers.get_list("set-cookie") if h.startswith("pixie-rq-")]
    assert len(csrf) == 1 and "Max-Age=600" in csrf[0]
