"""The Property API with real tokens from the real server: reads, writes, tenants, and the RFC 6750 answers for a
missing, bad or foreign token and for a missing scope."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from demo.support import Demo, bearer, sign_in_tokens
from pixie.demo.config import API_AUDIENCE
from pixie.demo.store import SEED_PROPERTIES
from spec.support import jwt_part

NEW_PROPERTY = {
    "name": "  Sunny   Corner Flat ",
    "address": "12 Rose Street",
    "city": "Edinburgh",
    "kind": "apartment",
    "bedrooms": 2,
    "monthly_rent": 1450,
}


def assert_api_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """Every error of the API has one shape: JSON ``error`` + ``error_description``, never cached."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str) and body["error_description"]
    return body


def challenge(response: httpx.Response) -> str:
    value: str = response.headers["www-authenticate"]
    assert value.startswith("Bearer "), value
    return value


def test_alice_token_is_for_the_api_with_every_scope(alice: dict[str, Any]) -> None:
    """RFC 9068 §3: the client is registered for the API's audience, so the token names it in ``aud``."""
    assert alice["scope"] == "properties:read properties:write tenants:read"
    claims = jwt_part(alice["access_token"], 1)
    assert claims["aud"] == API_AUDIENCE
    assert set(claims["scope"].split()) == {"properties:read", "properties:write", "tenants:read"}


def test_list_properties_is_the_seed_in_id_order(http: httpx.Client, bob: dict[str, Any]) -> None:
    response = http.get("/properties", headers=bearer(bob))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["total"] >= len(SEED_PROPERTIES) and (body["limit"], body["offset"]) == (50, 0)
    ids = [p["id"] for p in body["properties"]]
    assert ids == sorted(ids)
    first = body["properties"][0]
    assert first["name"] == SEED_PROPERTIES[0].name and first["currency"] == "EUR" and first["created_by"] is None


def test_list_pages_with_limit_and_offset(http: httpx.Client, bob: dict[str, Any]) -> None:
    everything = http.get("/properties", headers=bearer(bob)).json()["properties"]
    page = http.get("/properties", params={"limit": 2, "offset": 1}, headers=bearer(bob)).json()
    assert [p["id"] for p in page["properties"]] == [p["id"] for p in everything[1:3]]
    assert (page["limit"], page["offset"]) == (2, 1)


def test_get_one_property_and_unknown_ids(http: httpx.Client, bob: dict[str, Any]) -> None:
    listed = http.get("/properties", headers=bearer(bob)).json()["properties"][0]
    response = http.get(f"/properties/{listed['id']}", headers=bearer(bob))
    assert response.status_code == 200 and response.json() == listed
    for unknown in ("999999", "0", "abc", "-1", "9" * 30, "1e3"):
        body = assert_api_error(http.get(f"/properties/{unknown}", headers=bearer(bob)), 404, "not_found")
        assert body["error_description"] == "no such property"


def test_alice_creates_a_property(demo: Demo, http: httpx.Client, alice: dict[str, Any], bob: dict[str, Any]) -> None:
    response = http.post("/properties", json=NEW_PROPERTY, headers=bearer(alice))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "Sunny Corner Flat"  # trimmed, inner whitespace folded
    assert created["status"] == "available" and created["monthly_rent"] == 1450
    assert created["created_by"] == jwt_part(alice["access_token"], 1)["sub"]
    assert response.headers["location"] == f"/api/properties/{created['id']}"
    # Anyone who may read sees it, at the URL the Location header names (a protected resource like the rest).
    location = demo.base + response.headers["location"]
    assert httpx.get(location).status_code == 401
    again = httpx.get(location, headers=bearer(bob))
    assert again.status_code == 200 and again.json() == created


def test_alice_replaces_and_patches_a_property(http: httpx.Client, alice: dict[str, Any]) -> None:
    created = http.post("/properties", json=NEW_PROPERTY, headers=bearer(alice)).json()
    item = f"/properties/{created['id']}"
    replaced = http.put(item, json={**NEW_PROPERTY, "name": "Renamed", "status": "let"}, headers=bearer(alice))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "Renamed" and replaced.json()["status"] == "let"
    patched = http.patch(item, json={"monthly_rent": 1500}, headers=bearer(alice))
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["status"], body["monthly_rent"]) == ("Renamed", "let", 1500)
    assert http.get(item, headers=bearer(alice)).json() == body
    assert_api_error(http.patch("/properties/999999", json={"bedrooms": 1}, headers=bearer(alice)), 404, "not_found")
    assert_api_error(http.put("/properties/999999", json=NEW_PROPERTY, headers=bearer(alice)), 404, "not_found")


def test_tenants_are_listed_with_their_property(http: httpx.Client, bob: dict[str, Any]) -> None:
    response = http.get("/tenants", headers=bearer(bob))
    assert response.status_code == 200, response.text
    tenants = response.json()["tenants"]
    maya = next(t for t in tenants if t["name"] == "Maya Jansen")
    assert maya["property_name"] == SEED_PROPERTIES[0].name and maya["lease_end"] is None
    assert response.json()["total"] == len(tenants) >= 4


def test_no_token_is_401_with_a_bearer_challenge(http: httpx.Client) -> None:
    """RFC 6750 §3: a protected resource answers 401 and ``WWW-Authenticate: Bearer`` without a token."""
    for method, path in (("GET", "/properties"), ("POST", "/properties"), ("GET", "/tenants"), ("GET", "/nope")):
        response = http.request(method, path, json={} if method == "POST" else None)
        assert_api_error(response, 401, "invalid_token")
        assert 'error="invalid_token"' in challenge(response) and 'realm="Pixie demo Property API"' in challenge(
            response
        )


def test_bad_and_foreign_tokens_are_401(demo: Demo, http: httpx.Client, alice: dict[str, Any]) -> None:
    """RFC 9068 §4: a tampered token fails the signature; a token for another audience is refused even though
    the same issuer signed it."""
    header, payload, signature = alice["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "properties:read properties:write tenants:read admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in (f"{header}.{forged}.{signature}", "not-a-jwt", alice["refresh_token"]):
        response = http.get("/properties", headers={"Authorization": f"Bearer {token}"})
        assert_api_error(response, 401, "invalid_token")
    foreign = sign_in_tokens(demo, "alice", client_id="no-audience-spa")
    assert jwt_part(foreign["access_token"], 1)["aud"] == demo.base
    body = assert_api_error(http.get("/properties", headers=bearer(foreign)), 401, "invalid_token")
    assert "audience" in body["error_description"]


def test_bob_may_not_write(http: httpx.Client, bob: dict[str, Any], alice: dict[str, Any]) -> None:
    """RFC 6750 §3.1: a valid token without the scope is 403 ``insufficient_scope`` naming the scope needed; and
    nothing was written."""
    before = http.get("/properties", headers=bearer(bob)).json()["total"]
    response = http.post("/properties", json=NEW_PROPERTY, headers=bearer(bob))
    body = assert_api_error(response, 403, "insufficient_scope")
    assert 'scope="properties:write"' in challenge(response) and "properties:write" in body["error_description"]
    target = http.get("/properties", headers=bearer(bob)).json()["properties"][0]["id"]
    assert_api_error(
        http.patch(f"/properties/{target}", json={"bedrooms": 9}, headers=bearer(bob)), 403, "insufficient_scope"
    )
    assert_api_error(
        http.put(f"/properties/{target}", json=NEW_PROPERTY, headers=bearer(bob)), 403, "insufficient_scope"
    )
    assert http.get("/properties", headers=bearer(bob)).json()["total"] == before
    assert http.get(f"/properties/{target}", headers=bearer(alice)).json()["bedrooms"] != 9


def test_unsupported_method_and_unknown_path(http: httpx.Client, alice: dict[str, Any]) -> None:
    response = http.delete("/properties", headers=bearer(alice))
    assert_api_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert_api_error(http.get("/properties/1/owners", headers=bearer(alice)), 404, "not_found")
    # A decoded newline in the path must not slip past the API to another app (found by schemathesis).
    assert_api_error(http.patch("/properties/a%0Ab", json={"bedrooms": 1}, headers=bearer(alice)), 404, "not_found")
    assert_api_error(http.get("/properties%0A"), 401, "invalid_token")
