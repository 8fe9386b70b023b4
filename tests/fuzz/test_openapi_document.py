"""The OpenAPI document itself: served, valid, in step with the running server, mergeable; and the checks the fuzzer
applies with it can fail — a tiny misbehaving server on loopback that serves Pixie's document is caught every way.

Spec: OpenAPI 3.1.0; RFC 6749 §5.1–§5.2; RFC 8414 §2.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fuzz.oracles import check_back_channel
from fuzz.support import FuzzServer
from livesupport import free_port, serve_in_thread
from pixie.server.openapi import ApiFragment, back_channel_fragment, build_document

FORM = "application/x-www-form-urlencoded"


def test_the_document_is_served_and_valid(fuzz_server: FuzzServer, http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=300"
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": fuzz_server.pixie.issuer}]
    back_channel = {
        "/token",
        "/revoke",
        "/introspect",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/jwks.json",
        "/healthz",
        "/readyz",
        "/openapi.json",
    }
    assert back_channel <= set(document["paths"])
    assert all(path.startswith("/admin/api/") for path in set(document["paths"]) - back_channel)  # merged fragment
    schemathesis.openapi.from_dict(document)  # raises on a document that is not valid OpenAPI


def test_the_document_names_the_endpoints_the_metadata_advertises(fuzz_server: FuzzServer, http: httpx.Client) -> None:
    """RFC 8414 §2: the endpoints discovery points clients at are the ones described."""
    metadata = http.get("/.well-known/oauth-authorization-server").json()
    paths = http.get("/openapi.json").json()["paths"]
    for key in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"):
        assert metadata[key].removeprefix(fuzz_server.pixie.issuer) in paths, key
    grant_schemas = paths["/token"]["post"]["requestBody"]["content"][FORM]["schema"]["oneOf"]
    assert [s["properties"]["grant_type"]["const"] for s in grant_schemas] == metadata["grant_types_supported"]


def test_every_error_response_uses_the_rfc_error_object() -> None:
    document = build_document(back_channel_fragment())
    components = document["components"]["responses"]
    for path, item in document["paths"].items():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    resolved = components[response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response
                    schema = resolved["content"]["application/json"]["schema"]
                    assert schema["allOf"][0] == {"$ref": "#/components/schemas/OAuthError"}, (path, status)
                    assert resolved["headers"]["Cache-Control"]["schema"] == {"type": "string", "const": "no-store"}


def test_fragments_merge_and_refuse_duplicates() -> None:
    """Another part of the server (the admin API) adds its own fragment; a path or component defined twice with a
    different meaning is refused."""
    admin = ApiFragment(
        paths={"/admin/api/clients": {"get": {"responses": {"200": {"description": "clients"}}}}},
        components={"schemas": {"Client": {"type": "object"}}},
        tags=[{"name": "admin"}],
    )
    merged = build_document(back_channel_fragment(), admin)
    assert "/admin/api/clients" in merged["paths"] and "/token" in merged["paths"]
    assert "Client" in merged["components"]["schemas"] and "OAuthError" in merged["components"]["schemas"]
    assert {"name": "admin"} in merged["tags"]
    schemathesis.openapi.from_dict(merged)
    with pytest.raises(ValueError, match="path /token"):
        build_document(back_channel_fragment(), ApiFragment(paths={"/token": {}}))
    clash = ApiFragment(paths={}, components={"schemas": {"OAuthError": {"type": "string"}}})
    with pytest.raises(ValueError, match="schemas/OAuthError"):
        build_document(back_channel_fragment(), clash)


# --- the checks can fail ----------------------------------------------------------------------------------------

_ERROR = {"error": "invalid_grant", "error_description": "the grant is invalid"}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TOKEN = {"access_token": "eyJ.x.y", "token_type": "Bearer", "expires_in": 300, "scope": "a"}

MISBEHAVIOURS: dict[str, tuple[Any, int, dict[str, str]]] = {
    # name: (body, status, headers); a str body is sent as text/html
    "conformant error": (_ERROR, 400, _NO_STORE),
    "conformant token": (_TOKEN, 200, _NO_STORE),
    "a 500": ({"error": "server_error", "error_description": "boom"}, 500, _NO_STORE),
    "an undocumented status": (_ERROR, 418, _NO_STORE),
    "an HTML error": ("<h1>Bad request</h1>", 400, _NO_STORE),
    "an unregistered error code": ({"error": "oops", "error_description": "x"}, 400, _NO_STORE),
    "a forbidden description character": ({"error": "invalid_grant", "error_description": 'a "b"'}, 400, _NO_STORE),
    "an error without no-store": (_ERROR, 400, {}),
    "a cacheable token": (_TOKEN, 200, {"Cache-Control": "max-age=60"}),
    "a token with an extra field": ({**_TOKEN, "debug_info": "x"}, 200, _NO_STORE),
    "a 401 without the Basic challenge": ({"error": "invalid_client", "error_description": "x"}, 401, _NO_STORE),
}


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[tuple[str, dict[str, str]]]:
    """A tiny server on loopback with Pixie's document and a ``/token`` that answers as ``state["mode"]`` says."""
    port = free_port()
    state = {"mode": "conformant error"}

    async def openapi(request: Request) -> Response:
        return JSONResponse(build_document(back_channel_fragment(), server_url=f"http://127.0.0.1:{port}"))

    async def token(request: Request) -> Response:
        body, status, headers = MISBEHAVIOURS[state["mode"]]
        if isinstance(body, str):
            return Response(body, status_code=status, headers=headers, media_type="text/html")
        return JSONResponse(body, status_code=status, headers=headers)

    app = Starlette(routes=[Route("/openapi.json", openapi), Route("/token", token, methods=["POST"])])
    with serve_in_thread(app, port) as base:
        yield base, state


@pytest.mark.parametrize("mode", sorted(MISBEHAVIOURS))
def test_the_fuzzers_checks_catch_a_misbehaving_server(misbehaving: tuple[str, dict[str, str]], mode: str) -> None:
    base, state = misbehaving
    state["mode"] = mode
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    basic = "Basic " + base64.b64encode(b"web:secret").decode()
    case = api["/token"]["POST"].Case(
        body={"grant_type": "client_credentials"}, media_type=FORM, headers={"Authorization": basic}
    )
    response = case.call()
    if mode.startswith("conformant"):
        check_back_channel(case, response, basic_sent=True)
    else:
        with pytest.raises((AssertionError, BaseExceptionGroup)):
            check_back_channel(case, response, basic_sent=True)
