"""The opt-in grace window: a client registered with ``refresh_grace_seconds`` may repeat an *identical* refresh
request inside the window and gets the very same pair again; anything else — another scope parameter, a retry after
the window, any retry by a strict client — is reuse and revokes the family (issue 4 item 1).

Spec: RFC 9700 §4.14.2 (reuse detection; the grace window is Pixie's documented relaxation of it); RFC 6749 §6.
"""

from __future__ import annotations

import httpx
import pytest

from lifecycle.support import (
    GRACE_SECONDS,
    authorize_tokens,
    family_of,
    is_active,
    refresh,
    refreshed,
    revoke,
    set_token_column,
)
from spec.support import Browser, Pixie, assert_json_error


def _assert_family_revoked(http: httpx.Client, pixie: Pixie, pair: dict[str, str], client_id: str) -> None:
    """RFC 9700 §4.14.2: the family is gone — its newest refresh token and its access token are dead."""
    assert family_of(pixie, pair["refresh_token"])[2] == "refresh_reuse"
    assert not is_active(http, pair["access_token"])
    assert not is_active(http, pair["refresh_token"])
    assert_json_error(refresh(http, pair["refresh_token"], client_id), "invalid_grant")


def test_identical_retry_in_window_returns_the_same_pair(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """Issue 4 item 1: an identical retry inside the window returns exactly the first response's tokens, never a
    second branch; the family stays usable with the returned refresh token."""
    first = authorize_tokens(alice, http, "app-grace")
    once = refreshed(http, first["refresh_token"], "app-grace")
    again = refreshed(http, first["refresh_token"], "app-grace")
    thrice = refreshed(http, first["refresh_token"], "app-grace")

    for retry in (again, thrice):
        assert retry["access_token"] == once["access_token"]
        assert retry["refresh_token"] == once["refresh_token"]
        assert (retry["scope"], retry["token_type"]) == (once["scope"], once["token_type"])
        assert 0 <= retry["expires_in"] <= once["expires_in"]
    # One branch only: the family holds the original token and its single successor.
    family_id, revoked_at, _ = family_of(pixie, once["refresh_token"])
    assert revoked_at is None
    assert pixie.query("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = ?", (family_id,)) == [(2,)]
    assert is_active(http, once["access_token"])

    later = refreshed(http, once["refresh_token"], "app-grace")
    assert later["refresh_token"] != once["refresh_token"]


@pytest.mark.parametrize(
    ("first_scope", "retry_scope"),
    [
        pytest.param(None, "properties:read", id="narrower-on-retry"),
        pytest.param("properties:read", None, id="scope-dropped-on-retry"),
        pytest.param("properties:read", "tenants:read", id="other-scope-on-retry"),
    ],
)
def test_retry_with_another_scope_is_reuse(
    alice: Browser, http: httpx.Client, pixie: Pixie, first_scope: str | None, retry_scope: str | None
) -> None:
    """Issue 4 item 1: only an *identical* request is a retry; the same token with another ``scope`` parameter is
    reuse (RFC 9700 §4.14.2) and revokes the family."""
    first = authorize_tokens(alice, http, "app-grace")
    once = refreshed(http, first["refresh_token"], "app-grace", **({"scope": first_scope} if first_scope else {}))
    retry = refresh(http, first["refresh_token"], "app-grace", **({"scope": retry_scope} if retry_scope else {}))
    assert_json_error(retry, "invalid_grant")
    _assert_family_revoked(http, pixie, once, "app-grace")


def test_retry_after_the_window_is_reuse(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """Issue 4 item 1: past ``refresh_grace_seconds`` an identical retry is plain reuse (RFC 9700 §4.14.2)."""
    first = authorize_tokens(alice, http, "app-grace")
    once = refreshed(http, first["refresh_token"], "app-grace")
    set_token_column(pixie, first["refresh_token"], "used_at", seconds_ago=GRACE_SECONDS + 1)
    assert_json_error(refresh(http, first["refresh_token"], "app-grace"), "invalid_grant")
    _assert_family_revoked(http, pixie, once, "app-grace")


def test_retry_after_revocation_resurrects_nothing(alice: Browser, http: httpx.Client) -> None:
    """RFC 7009 §2.1, RFC 6749 §6: once the family is revoked (sign-out through ``/revoke``), an identical retry
    inside the window is ``invalid_grant`` — the stored pair is never handed out again."""
    first = authorize_tokens(alice, http, "app-grace")
    once = refreshed(http, first["refresh_token"], "app-grace")
    assert revoke(http, once["refresh_token"], "app-grace").status_code == 200
    response = refresh(http, first["refresh_token"], "app-grace")
    assert_json_error(response, "invalid_grant")
    assert once["access_token"] not in response.text
    assert not is_active(http, once["access_token"])


def test_retry_by_another_client_gets_nothing(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 6749 §6: the grace window belongs to the client the token was issued to; another client repeating the
    request inside the window gets ``invalid_grant``, not the pair (and the owner's family lives on)."""
    first = authorize_tokens(alice, http, "app-grace")
    once = refreshed(http, first["refresh_token"], "app-grace")
    response = refresh(http, first["refresh_token"], "app-b")
    assert_json_error(response, "invalid_grant")
    assert once["refresh_token"] not in response.text
    assert family_of(pixie, once["refresh_token"])[1] is None
    refreshed(http, once["refresh_token"], "app-grace")


def test_strict_client_identical_retry_is_reuse(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 9700 §4.14.2, strict by default (grace 0): even an identical, immediate retry revokes the family."""
    first = authorize_tokens(alice, http, "app")
    once = refreshed(http, first["refresh_token"], "app")
    assert_json_error(refresh(http, first["refresh_token"], "app"), "invalid_grant")
    _assert_family_revoked(http, pixie, once, "app")
