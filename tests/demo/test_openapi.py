"""The hand-written OpenAPI 3.1 document: public, well-formed (every ``$ref`` resolves), and true — it lists exactly
the operations the API serves, with the scopes they check and the fields they return."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from demo.support import Demo, bearer
from demo.test_property_api import NEW_PROPERTY
from pixie.demo.models import KINDS, LIMITS

OPERATIONS = {
    ("get", "/properties"): ("listProperties", "properties:read"),
    ("post", "/properties"): ("createProperty", "properties:write"),
    ("get", "/properties/{propertyId}"): ("getProperty", "properties:read"),
    ("put", "/properties/{propertyId}"): ("replaceProperty", "properties:write"),
    ("patch", "/properties/{propertyId}"): ("updateProperty", "properties:write"),
    ("get", "/tenants"): ("listTenants", "tenants:read"),
    ("get", "/openapi.json"): ("getOpenApiDocument", None),
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def document(demo: Demo) -> dict[str, Any]:
    response = httpx.get(f"{demo.api}/openapi.json")  # no token: the description is public
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_document_is_openapi_31_and_every_ref_resolves(demo: Demo, document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"] == [{"url": demo.api}]
    refs = _refs(document)
    assert len(refs) > 20
    for ref in refs:
        _resolve(document, ref)
    flows = document["components"]["securitySchemes"]["pixie"]["flows"]["authorizationCode"]
    assert flows["authorizationUrl"] == f"{demo.base}/authorize" and flows["tokenUrl"] == f"{demo.base}/token"
    assert set(flows["scopes"]) == {"properties:read", "properties:write", "tenants:read"}


def test_document_lists_exactly_the_operations_and_their_scopes(document: dict[str, Any]) -> None:
    found = {}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                security = operation["security"]
                scope = security[0]["pixie"][0] if security else None
                found[(method, path)] = (operation["operationId"], scope)
                assert "200" in operation["responses"] or "201" in operation["responses"]
                if scope is not None:
                    assert {"401", "403"} <= set(operation["responses"])
    assert found == OPERATIONS


def test_every_documented_operation_is_served_with_its_scope(
    demo: Demo, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    """Against the running API: each documented operation answers (not 404/405) for alice; for bob, exactly the
    ``properties:write`` operations are 403 — as the document says."""
    with httpx.Client(base_url=demo.api, timeout=20) as http:
        target = http.get("/properties", headers=bearer(alice)).json()["properties"][-1]["id"]
        for (method, path), (_, scope) in OPERATIONS.items():
            url = path.replace("{propertyId}", str(target))
            body = {"bedrooms": 1} if method == "patch" else NEW_PROPERTY if method in ("post", "put") else None
            as_alice = http.request(method.upper(), url, json=body, headers=bearer(alice))
            assert as_alice.status_code in (200, 201), (method, path, as_alice.text)
            as_bob = http.request(method.upper(), url, json=body, headers=bearer(bob))
            assert (as_bob.status_code == 403) == (scope == "properties:write"), (method, path, as_bob.status_code)


def test_schemas_match_what_the_api_returns(demo: Demo, document: dict[str, Any], alice: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    with httpx.Client(base_url=demo.api, timeout=20) as http:
        listed = http.get("/properties", headers=bearer(alice)).json()
        tenants = http.get("/tenants", headers=bearer(alice)).json()
    assert set(listed) == set(schemas["PropertyList"]["required"])
    prop = schemas["Property"]
    for item in listed["properties"]:
        assert set(item) == set(prop["properties"]) == set(prop["required"])  # additionalProperties: false
        assert item["kind"] in prop["properties"]["kind"]["enum"]
    for item in tenants["tenants"]:
        assert set(schemas["Tenant"]["required"]) <= set(item) <= set(schemas["Tenant"]["properties"])
    fields = schemas["PropertyInput"]["properties"]
    assert fields["kind"]["enum"] == list(KINDS)
    assert {name: fields[name]["maxLength"] for name in ("name", "address", "city")} == {
        name: LIMITS[name] for name in ("name", "address", "city")
    }
    assert fields["bedrooms"]["maximum"] == LIMITS["bedrooms"]
    assert set(schemas["PropertyInput"]["required"]) == set(fields) - {"status"}
