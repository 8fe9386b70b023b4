"""ARCHITECTURE §6.4: refresh tokens of public clients rotate; presenting a rotated token revokes the whole family;
only a client with ``refresh_grace_seconds`` > 0 may repeat an identical refresh inside the window, and then gets
the same new pair — never a second branch.

Spec: RFC 6749 §6; RFC 9700 §2.2.2, §4.14.2; OAuth 2.1 §4.3.1.
"""

from __future__ import annotations

from typing import Any

import httpx

from spec.support import Browser, Pkce, assert_json_error, authorize_pairs, token_request


def _tokens(alice: Browser, http: httpx.Client, client_id: str) -> dict[str, Any]:
    proof = Pkce.new()
    code = alice.code(authorize_pairs(client_id=client_id, challenge=proof.challenge))
    response = token_request(http, code, proof.verifier, client_id=client_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refresh(http: httpx.Client, client_id: str, refresh_token: str) -> httpx.Response:
    return http.post(
        "/token", data={"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    )


def test_public_client_refresh_rotates(alice: Browser, http: httpx.Client) -> None:
    """RFC 9700 §4.14.2 / OAuth 2.1 §4.3.1: a public client's refresh returns a new refresh token (no-store), and
    the old one is spent."""
    first = _tokens(alice, http, "spa")
    response = _refresh(http, "spa", first["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]


def test_reuse_of_rotated_token_revokes_family(alice: Browser, http: httpx.Client) -> None:
    """RFC 9700 §4.14.2: presenting a rotated refresh token (strict by default) is ``invalid_grant`` and revokes the
    family: the legitimate newest token stops working too."""
    first = _tokens(alice, http, "spa")
    newest = _refresh(http, "spa", first["refresh_token"]).json()["refresh_token"]
    assert_json_error(_refresh(http, "spa", first["refresh_token"]), "invalid_grant")
    assert_json_error(_refresh(http, "spa", newest), "invalid_grant")


def test_grace_window_returns_the_same_pair(alice: Browser, http: httpx.Client) -> None:
    """ARCHITECTURE §6.4: with ``refresh_grace_seconds`` > 0 an identical repeat inside the window receives the same
    new pair again — never a second branch of the family."""
    first = _tokens(alice, http, "spa-grace")
    once = _refresh(http, "spa-grace", first["refresh_token"])
    again = _refresh(http, "spa-grace", first["refresh_token"])
    assert once.status_code == again.status_code == 200
    assert again.json()["refresh_token"] == once.json()["refresh_token"]
    assert again.json()["access_token"] == once.json()["access_token"]
    assert _refresh(http, "spa-grace", once.json()["refresh_token"]).status_code == 200


def test_refresh_token_bound_to_client(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §6: the refresh token was issued to the client; another client presenting it gets
    ``invalid_grant``."""
    first = _tokens(alice, http, "spa")
    assert_json_error(_refresh(http, "spa-b", first["refresh_token"]), "invalid_grant")
