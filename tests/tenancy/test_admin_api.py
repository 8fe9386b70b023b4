"""Issue 7 item 5: the JSON admin API at ``/admin/api`` — who may call it (a ``pixie:admin`` token of the default
tenant, nobody else) and what it does (tenants, clients, users), on the real server.

Spec: RFC 6750 §2.1, §3, §3.1 (bearer challenges); RFC 9068 §4 (token validation).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
import schemathesis

from pixie.server.endpoints.admin_api import REALM
from spec.support import Pkce, assert_json_error, authorize_pairs, jwt_part, redirect_params
from tenancy.support import (
    ACME_ADMIN_SECRET,
    ADMIN_SECRET,
    PASSWORDS,
    READER_SECRET,
    SPA_CB,
    AdminApi,
    Server,
    TenantBrowser,
    client_credentials,
)


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def _challenge(response: httpx.Response) -> str:
    value: str = response.headers["www-authenticate"]
    assert value.startswith(f'Bearer realm="{REALM}"'), value
    return value


def _user_flow_token(server: Server, http: httpx.Client, username: str) -> dict[str, Any]:
    """``username`` signs in at the default tenant through the dashboard's own client asking for pixie:admin;
    the token response, or the error parameters of the authorization response."""
    callback = f"{server.origin}/admin/callback"
    proof = Pkce.new()
    pairs = authorize_pairs(
        client_id="pixie-admin", redirect_uri=callback, scope="pixie:admin", challenge=proof.challenge
    )
    with TenantBrowser(server, "default") as browser:
        response = browser.submit_login(browser.login_page(pairs), username, PASSWORDS[username])
        if "/consent" in response.headers.get("location", ""):
            response = browser.submit_consent(browser.follow(response, "/consent"))
        params = redirect_params(response, callback)
        if "code" not in params:
            return params
        code = params["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": proof.verifier,
        "client_id": "pixie-admin",
        "redirect_uri": callback,
    }
    token = http.post("/token", data=data)
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    return body


# --- who may call it -----------------------------------------------------------------------------------------------


def test_no_token_is_401_with_a_bare_challenge(http: httpx.Client) -> None:
    """RFC 6750 §3.1: no credentials → 401 and a challenge without an error code."""
    response = AdminApi(http, None).call("GET", "/tenants")
    assert response.status_code == 401
    assert _challenge(response) == f'Bearer realm="{REALM}"'
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer a b"])
def test_malformed_authorization_is_400_invalid_request(http: httpx.Client, header: str) -> None:
    response = http.get("/admin/api/tenants", headers={"Authorization": header})
    assert_json_error(response, "invalid_request")
    assert 'error="invalid_request"' in _challenge(response)


def test_garbage_token_is_401_invalid_token(http: httpx.Client) -> None:
    response = AdminApi(http, "not-a-jwt").call("GET", "/tenants")
    assert_json_error(response, "invalid_token", status=401)
    assert 'error="invalid_token"' in _challenge(response)


def test_admin_token_of_another_tenant_is_refused(http: httpx.Client) -> None:
    """A ``pixie:admin`` token issued by tenant acme: other ``iss``, other keys → 401 ``invalid_token``."""
    foreign = client_credentials(http, "/t/acme/token", "automation", ACME_ADMIN_SECRET)
    assert "pixie:admin" in jwt_part(foreign, 1)["scope"].split()
    response = AdminApi(http, foreign).call("GET", "/tenants")
    assert_json_error(response, "invalid_token", status=401)
    assert "default tenant" in response.json()["error_description"]


def test_token_without_the_scope_is_403_insufficient_scope(http: httpx.Client) -> None:
    """RFC 6750 §3.1: a valid token lacking the scope → 403 with ``scope`` in the challenge."""
    reader = client_credentials(http, "/token", "reader", READER_SECRET)
    response = AdminApi(http, reader).call("GET", "/tenants")
    assert_json_error(response, "insufficient_scope", status=403)
    assert 'scope="pixie:admin"' in _challenge(response)


def test_revoked_admin_token_is_refused(http: httpx.Client) -> None:
    token = client_credentials(http, "/token", "automation", ADMIN_SECRET)
    assert AdminApi(http, token).call("GET", "/tenants").status_code == 200
    revoked = http.post("/revoke", data={"token": token}, auth=("automation", ADMIN_SECRET))
    assert revoked.status_code == 200
    assert_json_error(AdminApi(http, token).call("GET", "/tenants"), "invalid_token", status=401)


def test_people_need_the_admin_role(server: Server, http: httpx.Client) -> None:
    """Through a user flow only an ``admin`` holds the scope: root's token works; carol, asking for pixie:admin
    only, gets no token at all (RFC 6749 §4.1.2.1)."""
    root = _user_flow_token(server, http, "root")
    assert root["scope"] == "pixie:admin"
    assert AdminApi(http, root["access_token"]).call("GET", "/tenants").status_code == 200
    carol = _user_flow_token(server, http, "carol")
    assert "access_token" not in carol, carol
    assert carol["error"] == "access_denied", carol  # nothing she asked for may be granted to her


# --- what it does --------------------------------------------------------------------------------------------------


def test_tenant_lifecycle(server: Server, http: httpx.Client, admin: AdminApi) -> None:
    name = _name("api")
    created = admin.ok("POST", "/tenants", {"name": name, "settings": {"brand_color": "#ABC"}}, status=201)
    assert created["issuer"] == f"{server.origin}/t/{name}"
    assert created["settings"]["brand_color"] == "#aabbcc" and created["disabled"] is False
    assert http.get(f"/t/{name}/jwks.json").status_code == 200  # keys exist at once
    assert name in [t["tenant"] for t in admin.ok("GET", "/tenants")["tenants"]]
    assert admin.ok("GET", f"/tenants/{name}")["display_name"] == name

    changed = admin.ok("PATCH", f"/tenants/{name}/settings", {"login_title": "Hello", "access_token_ttl": 600})
    assert (changed["settings"]["login_title"], changed["settings"]["access_token_ttl"]) == ("Hello", 600)
    assert admin.ok("POST", f"/tenants/{name}/disable")["disabled"] is True
    assert admin.ok("POST", f"/tenants/{name}/enable")["disabled"] is False


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "Bad_Name"}, "lowercase"),
        ({"name": "x", "settings": {"brand_color": "red"}}, "hex colour"),
        ({"name": "x", "settings": {"access_token_ttl": 5}}, "access_token_ttl"),
        ({"name": "x", "settings": {"allowed_grant_types": ["implicit"]}}, "implicit"),
        ({"name": "x", "settings": {"refresh_grace_seconds": 61}}, "refresh_grace_seconds"),
        ({"name": "x", "shoe_size": 44}, "shoe_size"),
        ({"name": 7}, "name must be a string"),
        ({}, "missing field(s): name"),
        ([], "JSON object"),
    ],
)
def test_tenant_validation_is_400_with_a_clear_message(admin: AdminApi, body: Any, needle: str) -> None:
    response = admin.call("POST", "/tenants", body)
    assert_json_error(response, "invalid_request")
    assert needle in response.json()["error_description"]


def test_duplicates_unknowns_and_media_types(admin: AdminApi) -> None:
    assert_json_error(admin.call("POST", "/tenants", {"name": "acme"}), "already_exists", status=409)
    assert_json_error(admin.call("GET", "/tenants/ghost"), "not_found", status=404)
    assert_json_error(admin.call("POST", "/tenants/ghost/disable"), "not_found", status=404)
    assert_json_error(admin.call("GET", "/tenants/ghost/clients"), "not_found", status=404)
    assert_json_error(admin.call("GET", "/tenants/acme/clients/ghost"), "not_found", status=404)
    assert_json_error(admin.call("POST", "/tenants/acme/users/ghost/disable"), "not_found", status=404)
    assert_json_error(admin.call("POST", "/tenants/default/disable"), "invalid_request")
    form = admin.call(
        "POST", "/tenants", content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_json_error(form, "unsupported_media_type", status=415)
    broken = admin.call("POST", "/tenants", content=b"{", headers={"Content-Type": "application/json"})
    assert_json_error(broken, "invalid_request")


def test_clients_per_tenant(http: httpx.Client, admin: AdminApi) -> None:
    """The secret is shown once; the same client id in two tenants is two clients; a disabled client stops at
    once in this process (the cached entry is dropped)."""
    client_id = _name("svc")
    body = {"client_id": client_id, "public": False, "grant_types": ["client_credentials"], "scope": "a:read"}
    acme = admin.ok("POST", "/tenants/acme/clients", body, status=201)
    globex = admin.ok("POST", "/tenants/globex/clients", body, status=201)
    assert acme["client_secret"] != globex["client_secret"] and len(acme["client_secret"]) >= 43
    assert "client_secret" not in admin.ok("GET", f"/tenants/acme/clients/{client_id}")
    assert client_id in [c["client_id"] for c in admin.ok("GET", "/tenants/acme/clients")["clients"]]
    assert_json_error(admin.call("POST", "/tenants/acme/clients", body), "already_exists", status=409)

    auth = (client_id, acme["client_secret"])
    assert http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
    refused = http.post("/t/globex/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert_json_error(refused, "invalid_client", status=401)
    assert admin.ok("POST", f"/tenants/acme/clients/{client_id}/disable")["disabled"] is True
    after = http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert_json_error(after, "invalid_client", status=401)
    assert admin.ok("POST", f"/tenants/acme/clients/{client_id}/enable")["disabled"] is False


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"client_id": "p", "public": True, "redirect_uris": ["http://evil.example/cb"]}, "https"),
        ({"client_id": "p", "public": True}, "redirect"),
        ({"client_id": "p", "public": "yes", "redirect_uris": [SPA_CB]}, "public must be true or false"),
        ({"client_id": "p", "public": True, "redirect_uris": [SPA_CB], "grant_types": ["client_credentials"]}, "4.4"),
        ({"client_id": "p", "public": True, "redirect_uris": [SPA_CB], "redirect_uris_typo": 1}, "unknown field"),
    ],
)
def test_client_validation(admin: AdminApi, body: dict[str, Any], needle: str) -> None:
    response = admin.call("POST", "/tenants/acme/clients", body)
    assert_json_error(response, "invalid_request")
    assert needle in response.json()["error_description"]


def test_users_per_tenant(server: Server, admin: AdminApi) -> None:
    """A user created through the API signs in at its tenant; disabled, it no longer can. Weak passwords and
    duplicates are refused; no answer carries the password or its hash."""
    username, password = _name("user"), "correct-horse-battery"
    created = admin.ok("POST", "/tenants/globex/users", {"username": username, "password": password}, status=201)
    assert created["username"] == username and created["sub"]
    assert username in [u["username"] for u in admin.ok("GET", "/tenants/globex/users")["users"]]
    weak = admin.call("POST", "/tenants/globex/users", {"username": _name("weak"), "password": "short"})
    assert_json_error(weak, "invalid_request")
    again = admin.call("POST", "/tenants/globex/users", {"username": username, "password": password})
    assert_json_error(again, "already_exists", status=409)

    def sign_in() -> httpx.Response:
        with TenantBrowser(server, "globex") as browser:
            page = browser.login_page(authorize_pairs(client_id="app", redirect_uri="http://127.0.0.1:9999/globex"))
            return browser.submit_login(page, username, password)

    assert sign_in().status_code == 303
    assert admin.ok("POST", f"/tenants/globex/users/{username}/disable")["disabled"] is True
    refused = sign_in()
    assert refused.status_code == 200 and "Invalid username or password." in refused.text
    assert admin.ok("POST", f"/tenants/globex/users/{username}/enable")["disabled"] is False


def test_user_profiles(admin: AdminApi, http: httpx.Client) -> None:
    """OpenID Connect Core §5.1 claims through the API: given at creation, changed by PATCH (absent fields stay, an
    empty string clears one), refused when malformed; client logout URIs and ID token algorithm at registration."""
    username = _name("profiled")
    body = {"username": username, "password": "correct-horse-battery", "name": "Carol Ng", "email": "carol@example.com"}
    created = admin.ok("POST", "/tenants/globex/users", body, status=201)
    assert (created["name"], created["email"], created["email_verified"]) == ("Carol Ng", "carol@example.com", False)
    assert created["given_name"] is None
    changed = admin.ok("PATCH", f"/tenants/globex/users/{username}", {"given_name": "Carol", "email_verified": True})
    assert (changed["given_name"], changed["name"], changed["email_verified"]) == ("Carol", "Carol Ng", True)
    cleared = admin.ok("PATCH", f"/tenants/globex/users/{username}", {"name": ""})
    assert cleared["name"] is None and cleared["given_name"] == "Carol"
    bad = admin.call("PATCH", f"/tenants/globex/users/{username}", {"email": "nope"})
    assert_json_error(bad, "invalid_request")
    unknown = admin.call("PATCH", f"/tenants/globex/users/{username}", {"password": "x"})
    assert_json_error(unknown, "invalid_request")
    tenant = _name("oidc")  # a tenant of its own: the others' key sets are counted elsewhere
    admin.ok("POST", "/tenants", {"name": tenant}, status=201)
    client = admin.ok(
        "POST",
        f"/tenants/{tenant}/clients",
        {
            "client_id": _name("rp"),
            "public": True,
            "redirect_uris": ["http://127.0.0.1:9999/rp"],
            "post_logout_redirect_uris": ["http://127.0.0.1:9999/bye"],
            "id_token_signed_response_alg": "RS256",
        },
        status=201,
    )
    assert client["post_logout_redirect_uris"] == ["http://127.0.0.1:9999/bye"]
    assert client["id_token_signed_response_alg"] == "RS256"
    # The tenant's RS256 line is published at registration, before any ID token needs it.
    assert "RSA" in {key["kty"] for key in http.get(f"/t/{tenant}/jwks.json").json()["keys"]}


def test_openapi_document_describes_the_admin_api(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    schemathesis.openapi.from_dict(document)  # valid OpenAPI 3.1
    paths = document["paths"]
    assert "/admin/api/tenants" in paths and "/admin/api/tenants/{tenant}/clients" in paths
    assert set(paths["/admin/api/tenants"]) == {"get", "post"}
    assert document["components"]["securitySchemes"]["pixieAdmin"]["scheme"] == "bearer"
    assert "client_credentials" in paths["/admin/api/tenants"]["get"]["description"]
