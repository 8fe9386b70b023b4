"""``POST /revoke``: a refresh token takes its whole family with it, an access token is deny-listed; the hint is a
hint; unknown and foreign tokens get 200 and nothing happens to them (issue 4 item 3).

Spec: RFC 7009 §2.1, §2.2, §2.2.1; RFC 6749 §2.3, §5.2; RFC 9700 §4.14.2.
"""

from __future__ import annotations

import httpx
import pytest

from lifecycle.support import (
    assert_revoke_ok,
    authorize_tokens,
    client_kwargs,
    family_of,
    is_active,
    refresh,
    refreshed,
    revoke,
)
from spec.support import Browser, Pixie, assert_json_error


@pytest.mark.parametrize("which", ["newest", "rotated"])
def test_revoking_a_refresh_token_revokes_its_family(
    alice: Browser, http: httpx.Client, pixie: Pixie, which: str
) -> None:
    """RFC 7009 §2.1: revoking a refresh token invalidates it and the access tokens of the same grant ("SHOULD also
    invalidate all access tokens based on the same authorization grant"); any token of the family names it."""
    first = authorize_tokens(alice, http)
    second = refreshed(http, first["refresh_token"])
    target = second["refresh_token"] if which == "newest" else first["refresh_token"]

    assert_revoke_ok(revoke(http, target))

    assert family_of(pixie, second["refresh_token"])[2] == "revoked_by_client"
    assert not is_active(http, second["refresh_token"])
    assert not is_active(http, second["access_token"])
    assert not is_active(http, first["access_token"])
    assert_json_error(refresh(http, second["refresh_token"]), "invalid_grant")


def test_revoking_an_access_token_deactivates_it(alice: Browser, http: httpx.Client) -> None:
    """RFC 7009 §2.1, §2.2: the access token is inactive at once (introspection, RFC 7662 §2.2). Pixie uses the
    "MAY" of §2.1 the narrow way: the refresh token of the grant stays valid."""
    tokens = authorize_tokens(alice, http)
    assert is_active(http, tokens["access_token"])
    assert_revoke_ok(revoke(http, tokens["access_token"]))
    assert not is_active(http, tokens["access_token"])
    assert is_active(http, tokens["refresh_token"])


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        pytest.param("refresh_token", "access_token", id="refresh-token-hinted-as-access[RFC7009-2.1]"),
        pytest.param("access_token", "refresh_token", id="access-token-hinted-as-refresh[RFC7009-2.1]"),
    ],
)
def test_wrong_hint_still_revokes(alice: Browser, http: httpx.Client, kind: str, hint: str) -> None:
    """RFC 7009 §2.1: if the token is not found under the hinted type, the server "MUST extend its search across
    all of its supported token types"."""
    tokens = authorize_tokens(alice, http)
    assert_revoke_ok(revoke(http, tokens[kind], token_type_hint=hint))
    assert not is_active(http, tokens[kind])


def test_unsupported_hint_value(alice: Browser, http: httpx.Client) -> None:
    """RFC 7009 §2.2.1 ``unsupported_token_type``: Pixie answers it for a hint naming no type it knows; the token
    is left alone."""
    tokens = authorize_tokens(alice, http)
    assert_json_error(revoke(http, tokens["refresh_token"], token_type_hint="id_token"), "unsupported_token_type")
    assert is_active(http, tokens["refresh_token"])


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("no-such-token", id="opaque"),
        pytest.param("eyJhbGciOiJub25lIn0.e30.", id="jwt-shaped"),
        pytest.param("a" * 5000, id="long"),
    ],
)
def test_unknown_token_is_200(http: httpx.Client, token: str) -> None:
    """RFC 7009 §2.2: "invalid tokens do not cause an error response since the client cannot handle such an error
    in a reasonable way"."""
    assert_revoke_ok(revoke(http, token))


def test_revoking_twice_is_200(alice: Browser, http: httpx.Client) -> None:
    """RFC 7009 §2.2: a token already revoked is just another invalid token: 200 again."""
    tokens = authorize_tokens(alice, http)
    assert_revoke_ok(revoke(http, tokens["refresh_token"]))
    assert_revoke_ok(revoke(http, tokens["refresh_token"]))


@pytest.mark.parametrize("other", ["app-b", "rs"])
def test_another_clients_token_is_200_but_not_revoked(alice: Browser, http: httpx.Client, other: str) -> None:
    """RFC 7009 §2.1: the server "verifies whether the token was issued to the client making the revocation
    request. If this validation fails, the request is refused" — Pixie refuses silently (200, §2.2), so the answer
    reveals nothing; the owner's tokens keep working."""
    tokens = authorize_tokens(alice, http)
    assert_revoke_ok(revoke(http, tokens["refresh_token"], client_id=other))
    assert_revoke_ok(revoke(http, tokens["access_token"], client_id=other))
    assert is_active(http, tokens["access_token"])
    refreshed(http, tokens["refresh_token"])


def test_wrong_secret_is_invalid_client(http: httpx.Client) -> None:
    """RFC 7009 §2.1 (client authentication as at the token endpoint), RFC 6749 §5.2: 401 ``invalid_client`` with
    a Basic challenge, and nothing is revoked."""
    token = http.post("/token", **client_kwargs("rs", {"grant_type": "client_credentials"})).json()["access_token"]
    response = http.post("/revoke", data={"token": token}, auth=("rs", "not-the-secret"))
    assert_json_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"].startswith("Basic")
    assert is_active(http, token)


def test_confidential_client_without_its_secret_is_invalid_client(http: httpx.Client) -> None:
    """RFC 7009 §2.1: a confidential client must authenticate; its client_id alone is 401 ``invalid_client``."""
    token = http.post("/token", **client_kwargs("rs", {"grant_type": "client_credentials"})).json()["access_token"]
    assert_json_error(http.post("/revoke", data={"token": token, "client_id": "rs"}), "invalid_client", status=401)
    assert is_active(http, token)


def test_no_client_is_invalid_client(alice: Browser, http: httpx.Client) -> None:
    """RFC 7009 §2.1, RFC 6749 §5.2: a request naming no client at all is 401 ``invalid_client``."""
    tokens = authorize_tokens(alice, http)
    assert_json_error(revoke(http, tokens["refresh_token"], client_id=None), "invalid_client", status=401)
    assert is_active(http, tokens["refresh_token"])


def test_missing_token_is_invalid_request(http: httpx.Client) -> None:
    """RFC 7009 §2.1 (``token`` REQUIRED), §2.2.1: ``invalid_request``, not cached."""
    assert_json_error(revoke(http, None), "invalid_request")
