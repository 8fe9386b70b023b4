"""OAuth error classes: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1."""

from __future__ import annotations

import json

import pytest

from pixie import errors

REGISTERED = {
    # code: (class, status)
    "invalid_request": (errors.InvalidRequest, 400),
    "invalid_client": (errors.InvalidClient, 401),
    "invalid_grant": (errors.InvalidGrant, 400),
    "unauthorized_client": (errors.UnauthorizedClient, 400),
    "unsupported_grant_type": (errors.UnsupportedGrantType, 400),
    "unsupported_response_type": (errors.UnsupportedResponseType, 400),
    "invalid_scope": (errors.InvalidScope, 400),
    "access_denied": (errors.AccessDenied, 403),
    "server_error": (errors.ServerError, 500),
    "temporarily_unavailable": (errors.TemporarilyUnavailable, 503),
    "invalid_token": (errors.InvalidToken, 401),
    "insufficient_scope": (errors.InsufficientScope, 403),
    "unsupported_token_type": (errors.UnsupportedTokenType, 400),
    "interaction_required": (errors.InteractionRequired, 400),
    "login_required": (errors.LoginRequired, 400),
    "consent_required": (errors.ConsentRequired, 400),
    "request_not_supported": (errors.RequestNotSupported, 400),
}


@pytest.mark.parametrize("code", sorted(REGISTERED))
def test_every_registered_code_has_one_class(code: str) -> None:
    cls, status = REGISTERED[code]
    assert errors.error_class_for(code) is cls
    assert cls.error == code
    assert cls.status == status
    assert issubclass(cls, errors.OAuthError)


@pytest.mark.parametrize("code", sorted(REGISTERED))
def test_json_rendering_is_no_store(code: str) -> None:
    """RFC 6749 §5.1/§5.2: JSON error body, and token-endpoint responses are never cached."""
    cls, status = REGISTERED[code]
    rendered = cls("something went wrong").render_json()
    assert rendered.status == status
    assert rendered.headers["Cache-Control"] == "no-store"
    assert rendered.headers["Pragma"] == "no-cache"
    assert rendered.headers["Content-Type"] == "application/json"
    assert json.loads(rendered.body) == {"error": code, "error_description": "something went wrong"}


def test_default_description_and_uri() -> None:
    err = errors.InvalidGrant(uri="https://docs.example/errors#invalid_grant")
    body = json.loads(err.render_json().body)
    assert body["error_description"] == errors.InvalidGrant.default_description
    assert body["error_uri"] == "https://docs.example/errors#invalid_grant"


@pytest.mark.parametrize("bad", ['say "hi"', "back\\slash", "tab\there", "naïve", "line\nbreak", ""])
def test_forbidden_description_characters_refused(bad: str) -> None:
    """RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E."""
    with pytest.raises(ValueError, match="RFC 6749"):
        errors.InvalidRequest(bad)


def test_safe_text_makes_any_input_acceptable() -> None:
    text = errors.safe_text('evil"\\\n' + "x" * 200)
    err = errors.InvalidRequest(f"unknown client {text}")
    assert '"' not in err.description and "\\" not in err.description
    assert err.description.endswith("...")


def test_redirect_params_carry_state_and_iss() -> None:
    """RFC 6749 §4.1.2.1 (state echoed) and RFC 9207 §2 (iss on every authorization response)."""
    params = errors.AccessDenied("user said no").redirect_params(state="xyz", iss="https://as.example")
    assert params == [
        ("error", "access_denied"),
        ("error_description", "user said no"),
        ("state", "xyz"),
        ("iss", "https://as.example"),
    ]
    no_state = errors.InvalidScope().redirect_params(state=None, iss="https://as.example")
    assert ("state", "xyz") not in no_state and no_state[-1] == ("iss", "https://as.example")


def test_bearer_challenge() -> None:
    """RFC 6750 §3: WWW-Authenticate: Bearer with realm, error, error_description and scope."""
    rendered = errors.InsufficientScope().render_bearer(realm="api", scope="properties:read")
    assert rendered.status == 403
    challenge = rendered.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'realm="api"' in challenge
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="properties:read"' in challenge
    assert errors.InvalidToken().render_bearer().status == 401


def test_invalid_client_basic_challenge() -> None:
    """RFC 6749 §5.2: 401 with WWW-Authenticate when the client used the Authorization header."""
    assert "WWW-Authenticate" not in errors.InvalidClient().render_json().headers
    rendered = errors.InvalidClient(basic_challenge=True).render_json()
    assert rendered.status == 401
    assert rendered.headers["WWW-Authenticate"].startswith("Basic ")


def test_server_error_hides_detail() -> None:
    assert "Traceback" not in errors.ServerError().description
    assert repr(errors.InvalidGrant("x")) == "InvalidGrant('x')"


def test_unknown_code_lookup_fails() -> None:
    with pytest.raises(KeyError):
        errors.error_class_for("made_up")
