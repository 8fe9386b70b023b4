"""The refresh-token grant: rotation on every use, reuse detection that revokes the whole family, scope rules,
binding to the client, and idle / absolute expiry (issue 4 item 1).

Spec: RFC 6749 §6; RFC 9700 §4.14.2; OAuth 2.1 §4.3.
"""

from __future__ import annotations

import time

import httpx
import pytest

from lifecycle.support import (
    FULL_SCOPE,
    authorize_tokens,
    client_kwargs,
    family_of,
    is_active,
    refresh,
    refreshed,
    revoke,
    set_token_column,
)
from spec.support import WEB_CB, Browser, Pixie, Pkce, assert_json_error, authorize_pairs, jwt_part, sha256_hex


def test_rotation_returns_new_pair_and_spends_the_old_token(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 9700 §4.14.2, OAuth 2.1 §4.3.1: every use of a public client's refresh token returns a new one and
    invalidates the old; the new access token is for the same user and client (RFC 6749 §5.1 response)."""
    first = authorize_tokens(alice, http)
    second = refreshed(http, first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["token_type"] == "Bearer"
    assert second["scope"] == FULL_SCOPE
    assert isinstance(second["expires_in"], int) and second["expires_in"] > 0
    claims = jwt_part(second["access_token"], 1)
    assert (claims["sub"], claims["client_id"]) == (pixie.user_ids["alice"], "app")

    assert not is_active(http, first["refresh_token"])
    assert is_active(http, second["refresh_token"])
    third = refreshed(http, second["refresh_token"])
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_reuse_revokes_the_whole_family(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 9700 §4.14.2: presenting a rotated refresh token is ``invalid_grant`` and revokes the family — its newest
    refresh token and every live access token issued in it (deny-listed by ``jti``) included."""
    first = authorize_tokens(alice, http)
    second = refreshed(http, first["refresh_token"])

    assert_json_error(refresh(http, first["refresh_token"]), "invalid_grant")

    assert family_of(pixie, second["refresh_token"])[2] == "refresh_reuse"
    assert not is_active(http, second["refresh_token"])
    for access_token in (first["access_token"], second["access_token"]):
        assert not is_active(http, access_token)
        jti = jwt_part(access_token, 1)["jti"]
        assert pixie.query("SELECT 1 FROM revoked_access_tokens WHERE jti = ?", (jti,)) == [(1,)]
    assert_json_error(refresh(http, second["refresh_token"]), "invalid_grant")


def test_reuse_emits_refresh_reuse_detected_event(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """Issue 4 item 1 (RFC 9700 §4.14.2): reuse detection leaves a ``refresh_reuse_detected`` event behind."""
    query = "SELECT count(*) FROM events WHERE kind = 'refresh_reuse_detected' AND client_id = 'app'"
    first = authorize_tokens(alice, http)
    refreshed(http, first["refresh_token"])
    time.sleep(0.7)  # events are written in batches every 0.5 s: let earlier tests' events land first
    (before,) = pixie.query(query, ())[0]
    assert_json_error(refresh(http, first["refresh_token"]), "invalid_grant")
    deadline = time.monotonic() + 5
    while (count := pixie.query(query, ())[0][0]) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count == before + 1


def test_scope_may_be_narrowed(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §6: the requested scope may be a subset of the original grant; the new tokens carry just that."""
    first = authorize_tokens(alice, http)
    narrowed = refreshed(http, first["refresh_token"], scope="properties:read")
    assert narrowed["scope"] == "properties:read"
    assert jwt_part(narrowed["access_token"], 1)["scope"] == "properties:read"


def test_omitted_scope_after_narrowing_means_the_original_grant(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §6: "if omitted [the scope] is treated as equal to the scope originally granted by the resource
    owner" — so a refresh without ``scope`` after a narrowed one gets the full original grant back."""
    first = authorize_tokens(alice, http)
    narrowed = refreshed(http, first["refresh_token"], scope="tenants:read")
    restored = refreshed(http, narrowed["refresh_token"])
    assert restored["scope"] == FULL_SCOPE


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(FULL_SCOPE, id="granted-plus-one[RFC6749-6]"),
        pytest.param("properties:read admin", id="unknown-scope[RFC6749-6]"),
    ],
)
def test_scope_may_not_be_widened(alice: Browser, http: httpx.Client, scope: str) -> None:
    """RFC 6749 §6: "The requested scope MUST NOT include any scope not originally granted" → ``invalid_scope``
    (§5.2). The refused request spends nothing: the token still works."""
    first = authorize_tokens(alice, http, scope="properties:read")
    assert_json_error(refresh(http, first["refresh_token"], scope=scope), "invalid_scope")
    assert refreshed(http, first["refresh_token"])["scope"] == "properties:read"


def test_token_of_another_client_is_invalid_grant_and_harmless(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §6 ("the refresh token was issued to the authenticated client"), §5.2: another client presenting it
    gets ``invalid_grant``; that is not reuse, so the owner's family survives."""
    first = authorize_tokens(alice, http)
    assert_json_error(refresh(http, first["refresh_token"], client_id="app-b"), "invalid_grant")
    assert is_active(http, first["refresh_token"])
    refreshed(http, first["refresh_token"])


def test_client_without_refresh_grant_is_unauthorized(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §5.2 ``unauthorized_client``: a client not registered for the refresh_token grant may not use it;
    the token it presented is untouched."""
    first = authorize_tokens(alice, http)
    assert_json_error(refresh(http, first["refresh_token"], client_id="app-norefresh"), "unauthorized_client")
    refreshed(http, first["refresh_token"])


def test_refresh_after_revocation_is_invalid_grant(alice: Browser, http: httpx.Client) -> None:
    """RFC 7009 §2.1, RFC 6749 §6: once the family is revoked through ``/revoke``, its current token is
    ``invalid_grant``."""
    first = authorize_tokens(alice, http)
    second = refreshed(http, first["refresh_token"])
    assert revoke(http, second["refresh_token"]).status_code == 200
    assert_json_error(refresh(http, second["refresh_token"]), "invalid_grant")


def test_idle_expired_token_is_invalid_grant(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """Issue 4 item 1 (idle timeout), RFC 6749 §6 / §5.2: a refresh token past its idle expiry is ``invalid_grant``
    and introspects inactive (RFC 7662 §2.2)."""
    first = authorize_tokens(alice, http)
    set_token_column(pixie, first["refresh_token"], "expires_at", seconds_ago=1)
    assert not is_active(http, first["refresh_token"])
    assert_json_error(refresh(http, first["refresh_token"]), "invalid_grant")


def test_family_past_absolute_lifetime_is_invalid_grant(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """Issue 4 item 1 (absolute family lifetime), RFC 6749 §5.2: however fresh the token, a family past its
    absolute expiry refreshes no more."""
    first = authorize_tokens(alice, http)
    second = refreshed(http, first["refresh_token"])
    count = pixie.execute(
        "UPDATE refresh_families SET absolute_expires_at = ? WHERE family_id ="
        " (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)",
        (time.time() - 1, sha256_hex(second["refresh_token"])),
    )
    assert count == 1
    assert not is_active(http, second["refresh_token"])
    assert_json_error(refresh(http, second["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param({"refresh_token": "no-such-token"}, "invalid_grant", id="unknown-token[RFC6749-5.2]"),
        pytest.param({}, "invalid_request", id="missing-token[RFC6749-6]"),
    ],
)
def test_malformed_refresh_requests(http: httpx.Client, data: dict[str, str], error: str) -> None:
    """RFC 6749 §6 (``refresh_token`` REQUIRED), §5.2."""
    response = http.post("/token", data={"grant_type": "refresh_token", "client_id": "app", **data})
    assert_json_error(response, error)


def test_confidential_client_must_authenticate_to_refresh(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §6: "If the client type is confidential … the client MUST authenticate"; without its secret the
    request is 401 ``invalid_client`` (§5.2) and spends nothing; with it the token rotates."""
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id="web", redirect_uri=WEB_CB, challenge=proof.challenge), WEB_CB)
    exchange = {"grant_type": "authorization_code", "code": code, "code_verifier": proof.verifier}
    response = http.post("/token", **client_kwargs("web", {**exchange, "redirect_uri": WEB_CB}))
    assert response.status_code == 200, response.text
    first = response.json()

    unauthenticated = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "web"}
    assert_json_error(http.post("/token", data=unauthenticated), "invalid_client", status=401)
    second = refreshed(http, first["refresh_token"], "web")
    assert second["refresh_token"] != first["refresh_token"]


def test_token_is_unknown_in_another_tenant(alice: Browser, http: httpx.Client) -> None:
    """Issue 4 item 4 / issue 7 (tenant isolation), RFC 6749 §5.2: at tenant ``other`` the default tenant's refresh
    token is unknown — ``invalid_grant`` even for a client with the same id — and revoking it there does nothing."""
    first = authorize_tokens(alice, http)
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "app"}
    assert_json_error(http.post("/t/other/token", data=data), "invalid_grant")
    response = http.post("/t/other/revoke", data={"token": first["refresh_token"], "client_id": "app"})
    assert response.status_code == 200
    assert is_active(http, first["refresh_token"])
    refreshed(http, first["refresh_token"])
