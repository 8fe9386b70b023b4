"""The admin API refuses a client whose redirect URI is not one (a wildcard host, user information, a control
character): 400 ``invalid_request`` with ``Cache-Control: no-store``, and no client is created.

Spec: RFC 3986 §2, §3.2.2; RFC 9110 §4.2.4; RFC 9700 §2.1; OAuth 2.1 §2.3.
"""

from __future__ import annotations

import secrets

import pytest

from spec.support import assert_json_error
from tenancy.support import AdminApi


@pytest.mark.parametrize(
    "uri",
    [
        "https://*.example.com/cb",
        "https://evil.example@app.example/cb",
        "https://app.example/c\x01b",
        "http://127.0.0.1:99\n99/cb",
        "https://[fe80::1%25eth0]/cb",
    ],
    ids=["wildcard-host", "userinfo", "control-character", "newline", "ipv6-zone"],
)
def test_a_client_with_an_invalid_redirect_uri_is_refused(admin: AdminApi, uri: str) -> None:
    client_id = f"bad-{secrets.token_hex(3)}"
    response = admin.call(
        "POST", "/tenants/default/clients", {"client_id": client_id, "public": True, "redirect_uris": [uri]}
    )
    error = assert_json_error(response, "invalid_request", 400)
    assert "redirect URI" in error["error_description"]
    assert admin.call("GET", f"/tenants/default/clients/{client_id}").status_code == 404


def test_a_valid_redirect_uri_is_registered(admin: AdminApi) -> None:
    """The control: the same call with a redirect URI that is one."""
    client_id = f"good-{secrets.token_hex(3)}"
    created = admin.ok(
        "POST",
        "/tenants/default/clients",
        {"client_id": client_id, "public": True, "redirect_uris": ["https://app.example/cb"]},
        status=201,
    )
    assert created["redirect_uris"] == ["https://app.example/cb"]
