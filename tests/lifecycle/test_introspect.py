"""``POST /introspect`` for resource servers: the state and claims of a live token, ``{"active": false}`` for
anything else — used, revoked, malformed or another tenant's (issue 4 item 4), a token the caller may not see
(neither its client nor named in its ``aud``), and a token of a disabled user.

Spec: RFC 7662 §2.1, §2.2, §2.3, §4; RFC 6749 §5.2.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from lifecycle.support import (
    FULL_SCOPE,
    OTHER_RS_SECRET,
    RS_SECRET,
    authorize_tokens,
    client_kwargs,
    introspect,
    introspection,
    is_active,
    refreshed,
    revoke,
)
from spec.support import WEB_CB, Browser, Pixie, Pkce, assert_json_error, authorize_pairs, jwt_part


def _client_token(http: httpx.Client, client_id: str = "rs") -> str:
    response = http.post("/token", **client_kwargs(client_id, {"grant_type": "client_credentials"}))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_live_access_token(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 7662 §2.2: ``active`` true with ``scope``, ``client_id``, ``sub``, ``exp``, ``iat``, ``iss``, ``aud``
    and ``token_type`` — the access token's own claims (RFC 9068 §2.2)."""
    tokens = authorize_tokens(alice, http)
    body = introspection(http, tokens["access_token"])
    claims = jwt_part(tokens["access_token"], 1)

    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["scope"] == FULL_SCOPE
    assert body["client_id"] == "app"
    assert body["sub"] == pixie.user_ids["alice"]
    assert body["iss"] == pixie.issuer
    for name in ("iat", "exp", "aud", "jti"):
        assert body[name] == claims[name], name
    assert body["iat"] <= time.time() < body["exp"]


def test_live_refresh_token(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 7662 §2.2: a live refresh token is ``active`` with its scope, client, subject, issuer and lifetime."""
    tokens = authorize_tokens(alice, http, scope="properties:read")
    body = introspection(http, tokens["refresh_token"])

    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["scope"] == "properties:read"
    assert body["client_id"] == "app"
    assert body["sub"] == pixie.user_ids["alice"]
    assert body["iss"] == pixie.issuer
    assert isinstance(body["iat"], int) and isinstance(body["exp"], int)
    assert body["iat"] <= time.time() < body["exp"]


def test_client_credentials_token(http: httpx.Client) -> None:
    """RFC 7662 §2.2 with RFC 9068 §2.2: a client's own token has ``sub`` = ``client_id``."""
    body = introspection(http, _client_token(http, "svc-post"))
    assert body["active"] is True
    assert body["sub"] == body["client_id"] == "svc-post"
    assert body["scope"] == "properties:read"


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        pytest.param("access_token", "refresh_token", id="access-token-hinted-as-refresh[RFC7662-2.1]"),
        pytest.param("refresh_token", "access_token", id="refresh-token-hinted-as-access[RFC7662-2.1]"),
    ],
)
def test_wrong_hint_still_finds_the_token(alice: Browser, http: httpx.Client, kind: str, hint: str) -> None:
    """RFC 7662 §2.1: if the token is not found under the hint, the server "MUST extend its search across all of
    its supported token types"."""
    tokens = authorize_tokens(alice, http)
    assert introspection(http, tokens[kind], token_type_hint=hint)["active"] is True


def test_rotated_refresh_token_is_inactive(alice: Browser, http: httpx.Client) -> None:
    """RFC 7662 §2.2 ("active … has not been revoked … and is within its given time window"), RFC 9700 §4.14.2: a
    refresh token spent by rotation is inactive, and only ``active`` is said about it."""
    tokens = authorize_tokens(alice, http)
    refreshed(http, tokens["refresh_token"])
    assert not is_active(http, tokens["refresh_token"])


def test_revoked_tokens_are_inactive(alice: Browser, http: httpx.Client) -> None:
    """RFC 7662 §2.2 with RFC 7009 §2.1: after revocation neither the access token nor the refresh token is
    active."""
    first = authorize_tokens(alice, http)
    assert revoke(http, first["access_token"]).status_code == 200
    second = authorize_tokens(alice, http)
    assert revoke(http, second["refresh_token"]).status_code == 200
    assert not is_active(http, first["access_token"])
    assert not is_active(http, second["refresh_token"])


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="opaque-garbage"),
        pytest.param("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", id="unsigned-jwt"),
        pytest.param("x.y.z", id="three-dots"),
    ],
)
def test_garbage_is_inactive(http: httpx.Client, token: str) -> None:
    """RFC 7662 §2.2: a token the server does not know is simply ``{"active": false}`` with 200, not an error."""
    assert introspection(http, token) == {"active": False}


def test_another_tenants_token_is_inactive(http: httpx.Client, pixie: Pixie) -> None:
    """Issue 4 item 4, RFC 7662 §2.2: a live token of tenant ``other`` (other keys, other ``iss``) is inactive at the
    default tenant's endpoint — even though a client named ``rs`` exists in both."""
    other = ("rs", OTHER_RS_SECRET)
    response = http.post("/t/other/token", data={"grant_type": "client_credentials"}, auth=other)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    at_home: dict[str, Any] = http.post("/t/other/introspect", data={"token": token}, auth=other).json()
    assert at_home["active"] is True
    assert at_home["iss"] == f"{pixie.issuer}/t/other"

    assert introspection(http, token) == {"active": False}


def test_other_tenants_client_cannot_introspect_here(http: httpx.Client) -> None:
    """RFC 7662 §2.1, RFC 6749 §5.2: clients are per tenant; ``other``'s ``rs`` credentials are 401 here."""
    response = http.post("/introspect", data={"token": _client_token(http)}, auth=("rs", OTHER_RS_SECRET))
    assert_json_error(response, "invalid_client", status=401)


def test_public_client_may_not_introspect(alice: Browser, http: httpx.Client) -> None:
    """RFC 7662 §2.1, §4: only authorised protected resources may call; Pixie refuses a public client (which cannot
    authenticate) with 400 ``unauthorized_client``."""
    tokens = authorize_tokens(alice, http)
    assert_json_error(introspect(http, tokens["access_token"], client_id="app"), "unauthorized_client")


def test_no_client_authentication_is_invalid_client(http: httpx.Client) -> None:
    """RFC 7662 §2.1 ("the endpoint MUST also require some form of authorization"), RFC 6749 §5.2: 401
    ``invalid_client``."""
    assert_json_error(introspect(http, _client_token(http), client_id=None), "invalid_client", status=401)


def test_wrong_secret_is_invalid_client(http: httpx.Client) -> None:
    """RFC 7662 §2.1, RFC 6749 §5.2: failed Basic authentication is 401 ``invalid_client`` with a challenge."""
    response = http.post("/introspect", data={"token": _client_token(http)}, auth=("rs", RS_SECRET + "x"))
    assert_json_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"].startswith("Basic")


def test_missing_token_is_invalid_request(http: httpx.Client) -> None:
    """RFC 7662 §2.1 (``token`` REQUIRED), §2.3: ``invalid_request``."""
    assert_json_error(introspect(http, None), "invalid_request")


# --- who may learn about a token (RFC 7662 §2.2, §4) ---------------------------------------------------------------


def _web_tokens(alice: Browser, http: httpx.Client) -> dict[str, Any]:
    """alice's tokens through the confidential client ``web`` (authenticated at the token endpoint)."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id="web", redirect_uri=WEB_CB, challenge=proof.challenge), WEB_CB)
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": proof.verifier, "redirect_uri": WEB_CB}
    response = http.post("/token", **client_kwargs("web", data))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_another_clients_tokens_are_inactive_to_a_client_not_in_their_audience(
    alice: Browser, http: httpx.Client
) -> None:
    """RFC 7662 §2.2 ("the protected resource is not allowed to introspect this particular token" → ``active``
    false), §4: ``web`` is a confidential client, but ``app``'s and ``svc-post``'s tokens are meant for ``rs``, and
    ``rs``'s own token for the issuer. It hears exactly what it would hear about a token that does not exist."""
    tokens = authorize_tokens(alice, http)
    others = [tokens["access_token"], tokens["refresh_token"], _client_token(http, "svc-post"), _client_token(http)]
    for token in others:
        answer = introspect(http, token, client_id="web")
        assert answer.status_code == 200 and answer.json() == {"active": False}
    assert is_active(http, tokens["access_token"]) and is_active(http, tokens["refresh_token"])  # rs: in their aud


def test_a_client_may_introspect_its_own_tokens(alice: Browser, http: httpx.Client) -> None:
    """RFC 7662 §2.1: the token's own (confidential) client may ask about it: ``web`` about its access and refresh
    token, ``rs`` and ``svc-post`` about their client-credentials tokens."""
    tokens = _web_tokens(alice, http)
    for kind in ("access_token", "refresh_token"):
        body = introspect(http, tokens[kind], client_id="web").json()
        assert body["active"] is True and body["client_id"] == "web", body
    assert introspect(http, _client_token(http), client_id="rs").json()["active"] is True
    assert introspect(http, _client_token(http, "svc-post"), client_id="svc-post").json()["active"] is True
    assert introspect(http, tokens["access_token"], client_id="svc-post").json() == {"active": False}


def test_tokens_of_a_disabled_user_are_inactive(pixie: Pixie, alice: Browser, http: httpx.Client) -> None:
    """RFC 7662 §2.2: while alice is disabled her access and refresh tokens are inactive, at once (users are read
    afresh on every introspection); the control: active before and again after."""
    tokens = authorize_tokens(alice, http)
    assert is_active(http, tokens["access_token"]) and is_active(http, tokens["refresh_token"])
    assert pixie.execute("UPDATE users SET disabled = 1 WHERE username = 'alice'") == 1
    try:
        assert not is_active(http, tokens["access_token"])
        assert not is_active(http, tokens["refresh_token"])
    finally:
        pixie.execute("UPDATE users SET disabled = 0 WHERE username = 'alice'")
    assert is_active(http, tokens["access_token"]) and is_active(http, tokens["refresh_token"])
