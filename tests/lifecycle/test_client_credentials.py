"""The client-credentials grant: a confidential client gets a JWT access token for itself — ``sub`` is its client
id, no refresh token — with its registered scopes or a subset (issue 4 item 2).

Spec: RFC 6749 §4.4, §5.2; RFC 9068 §2.2; OAuth 2.1 §4.2.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from lifecycle.support import FULL_SCOPE, client_kwargs
from spec.support import Pixie, assert_json_error, jwt_part

_GRANT = {"grant_type": "client_credentials"}


def _request(http: httpx.Client, client_id: str | None, **extra: str) -> httpx.Response:
    return http.post("/token", **client_kwargs(client_id, {**_GRANT, **extra}))


def _granted(http: httpx.Client, client_id: str, **extra: str) -> dict[str, Any]:
    response = _request(http, client_id, **extra)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("client_id", "registered"),
    [
        pytest.param("rs", FULL_SCOPE, id="client_secret_basic[RFC6749-2.3.1]"),
        pytest.param("svc-post", "properties:read", id="client_secret_post[RFC6749-2.3.1]"),
    ],
)
def test_confidential_client_gets_a_token_for_itself(
    http: httpx.Client, pixie: Pixie, client_id: str, registered: str
) -> None:
    """RFC 6749 §4.4.3: an access token and no refresh token ("A refresh token SHOULD NOT be included"); RFC 9068
    §2.2: ``sub`` is the client id when no resource owner is involved; RFC 6749 §3.3: an omitted scope means the
    client's registered (default) scope."""
    before = int(time.time())
    body = _granted(http, client_id)

    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer"
    assert body["scope"] == registered
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert jwt_part(body["access_token"], 0)["typ"] == "at+jwt"
    claims = jwt_part(body["access_token"], 1)
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["iss"] == pixie.issuer
    assert claims["scope"] == registered
    assert claims["iat"] >= before and claims["exp"] == claims["iat"] + body["expires_in"]


def test_scope_subset_is_granted(http: httpx.Client) -> None:
    """RFC 6749 §4.4.2, §3.3: a requested subset of the registered scopes is what the token carries."""
    body = _granted(http, "rs", scope="tenants:read")
    assert body["scope"] == "tenants:read"
    assert jwt_part(body["access_token"], 1)["scope"] == "tenants:read"


@pytest.mark.parametrize(
    ("client_id", "scope"),
    [
        pytest.param("rs", "properties:write", id="unknown-scope[RFC6749-5.2]"),
        pytest.param("svc-post", "tenants:read", id="known-but-not-registered[RFC6749-5.2]"),
        pytest.param("svc-post", "properties:read tenants:read", id="registered-plus-one[RFC6749-5.2]"),
    ],
)
def test_scope_beyond_registration_is_invalid_scope(http: httpx.Client, client_id: str, scope: str) -> None:
    """RFC 6749 §5.2 ``invalid_scope``: "exceeds the scope granted by the resource owner" — here, the client's own
    registration."""
    assert_json_error(_request(http, client_id, scope=scope), "invalid_scope")


def test_public_client_is_unauthorized_client(http: httpx.Client) -> None:
    """RFC 6749 §4.4 ("MUST only be used by confidential clients"), §5.2: a public client identifies itself with
    ``client_id`` alone (that is how it "authenticates"), so the grant itself refuses it: ``unauthorized_client``."""
    assert_json_error(_request(http, "app"), "unauthorized_client")


def test_public_client_with_a_made_up_secret_is_invalid_client(http: httpx.Client) -> None:
    """RFC 6749 §5.2 ``invalid_client`` (401 with ``WWW-Authenticate`` when Basic was used): a public client has no
    secret, so presenting one fails client authentication before any grant is considered."""
    response = http.post("/token", data=_GRANT, auth=("app", "guessed-secret"))
    assert_json_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"].startswith("Basic")


def test_no_client_authentication_is_invalid_client(http: httpx.Client) -> None:
    """RFC 6749 §4.4.2 ("The client MUST authenticate"), §5.2: no credentials at all → 401 ``invalid_client``."""
    assert_json_error(_request(http, None), "invalid_client", status=401)


def test_wrong_secret_is_invalid_client(http: httpx.Client) -> None:
    """RFC 6749 §5.2: failed Basic authentication is 401 ``invalid_client`` with a ``WWW-Authenticate`` challenge."""
    response = http.post("/token", data=_GRANT, auth=("rs", "not-the-secret"))
    assert_json_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"].startswith("Basic")


def test_confidential_client_not_registered_for_the_grant(http: httpx.Client) -> None:
    """RFC 6749 §5.2 ``unauthorized_client``: "not authorized to use this authorization grant type"."""
    assert_json_error(_request(http, "web"), "unauthorized_client")
