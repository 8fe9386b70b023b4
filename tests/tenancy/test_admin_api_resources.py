"""The admin API's protected resources (RFC 8707): per tenant, with their identifier (a URI, percent-encoded in the
path), scopes and access-token lifetime; bad identifiers are 400, duplicates 409, unknown ones 404. On the real
server.

Spec: RFC 8707 §2 (a resource identifier is an absolute URI without fragment).
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest

from spec.support import assert_json_error
from tenancy.support import AdminApi


def _uri() -> str:
    return f"https://api-{secrets.token_hex(3)}.example/v1"


def test_resource_lifecycle_per_tenant(admin: AdminApi) -> None:
    uri = _uri()
    body = {"resource": uri, "name": "Orders API", "scope": "orders:read orders:write", "access_token_ttl": 120}
    created = admin.ok("POST", "/tenants/acme/resources", body, status=201)
    assert created["resource"] == uri and created["scope"] == "orders:read orders:write"
    assert created["access_token_ttl"] == 120 and created["tenant"] == "acme"
    assert_json_error(admin.call("POST", "/tenants/acme/resources", body), "already_exists", status=409)
    assert uri in [r["resource"] for r in admin.ok("GET", "/tenants/acme/resources")["resources"]]
    assert uri not in [r["resource"] for r in admin.ok("GET", "/tenants/globex/resources")["resources"]]

    path = f"/tenants/acme/resources/{quote(uri, safe='')}"
    assert admin.ok("GET", path)["name"] == "Orders API"
    changed = admin.ok("PATCH", path, {"scope": "orders:read", "access_token_ttl": None})
    assert changed["scope"] == "orders:read" and changed["access_token_ttl"] is None
    assert changed["name"] == "Orders API"
    assert admin.ok("DELETE", path) == {"tenant": "acme", "resource": uri, "deleted": True}
    assert_json_error(admin.call("GET", path), "not_found", status=404)
    assert_json_error(admin.call("DELETE", path), "not_found", status=404)
    assert_json_error(admin.call("GET", f"/tenants/globex/resources/{quote(_uri(), safe='')}"), "not_found", 404)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"resource": "https://api.example/#frag"}, "fragment"),
        ({"resource": "/relative/path"}, "absolute URI"),
        ({"resource": "https://api.example/ space"}, "absolute URI"),
        ({"resource": ""}, "empty"),
        ({"resource": "https://api.example/", "scope": 'a"b'}, "scope"),
        ({"resource": "https://api.example/", "access_token_ttl": 0}, "lifetime"),
        ({"resource": "https://api.example/", "access_token_ttl": "60"}, "whole number"),
        ({"name": "no identifier"}, "missing field"),
        ({"resource": "https://api.example/", "audience": "x"}, "unknown field"),
    ],
)
def test_resource_validation(admin: AdminApi, body: dict[str, object], needle: str) -> None:
    response = admin.call("POST", "/tenants/acme/resources", body)
    assert_json_error(response, "invalid_request")
    assert needle in response.json()["error_description"]


def test_unknown_tenant_is_404(admin: AdminApi) -> None:
    assert_json_error(admin.call("GET", "/tenants/nope/resources"), "not_found", status=404)
