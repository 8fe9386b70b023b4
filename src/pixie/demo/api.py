"""The demo Property API: a small resource server protected by :mod:`pixie.resource`.

Every route needs a scope (``properties:read``, ``properties:write``, ``tenants:read``) checked by
:func:`pixie.resource.requires_scopes` on the token that :class:`pixie.resource.BearerAuthMiddleware` verified.
Every error, ours or the framework's, is one JSON shape: ``{"error": ..., "error_description": ...}`` (the shape of
RFC 6749 §5.2, so the 401/403 bodies from the middleware look the same).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pixie.demo.models import InvalidInput, Property, PropertyFields, parse_property
from pixie.demo.store import MAX_PROPERTY_ID, PropertyStore
from pixie.resource import AccessToken, requires_scopes

__all__ = ["MAX_BODY_BYTES", "MAX_OFFSET", "api_error", "create_api", "json_body"]

log = logging.getLogger("pixie.demo")

MAX_BODY_BYTES = 16 * 1024
MAX_OFFSET = 100_000_000
Handler = Callable[[Request], Awaitable[Response]]
_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed"}


def json_body(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON that no cache keeps: every answer depends on who asked (RFC 6750 §5.3 spirit)."""
    return Response(
        json.dumps(data, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def api_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return json_body({"error": error, "error_description": description}, status=status, headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.response = api_error(status, error, description)


def _store(request: Request) -> PropertyStore:
    store: PropertyStore = request.app.state.store
    return store


def _query_int(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise _Refused(400, "invalid_request", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _property_id(request: Request) -> int:
    raw = str(request.path_params["property_id"])
    # Not a valid id: the resource does not exist (404), as for any unknown path.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_PROPERTY_ID:
        raise _Refused(404, "not_found", "no such property")
    return int(raw)


async def _read_json(request: Request) -> object:
    """The body as JSON: ``application/json`` only, at most :data:`MAX_BODY_BYTES`, read incrementally so a huge
    body is refused without being held in memory."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise _Refused(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _Refused(413, "request_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _Refused(413, "request_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")

    def no_constants(name: str) -> None:
        raise ValueError(name)  # NaN and Infinity are not JSON (RFC 8259 §6)

    try:
        return json.loads(body.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused(400, "invalid_request", "the body is not valid JSON") from None


def _parse(body: object, current: PropertyFields | None = None) -> PropertyFields:
    try:
        return parse_property(body, current=current)
    except InvalidInput as exc:
        raise _Refused(400, "invalid_request", str(exc)) from None


def _subject(request: Request) -> str | None:
    auth: AccessToken | None = request.scope.get("auth")
    return auth.subject if auth is not None else None


def _refusable(handler: Handler) -> Handler:
    """Turn a :class:`_Refused` raised by the helpers above into its response."""

    async def wrapped(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except _Refused as exc:
            return exc.response
        return response

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@requires_scopes("properties:read")
@_refusable
async def list_properties(request: Request) -> Response:
    """``GET /api/properties?limit=&offset=``: one page of properties, ordered by id."""
    limit = _query_int(request, "limit", default=50, low=1, high=100)
    offset = _query_int(request, "offset", default=0, low=0, high=MAX_OFFSET)
    store = _store(request)
    items = await store.list_properties(limit=limit, offset=offset)
    total = await store.count_properties()
    return json_body({"properties": [p.as_json() for p in items], "total": total, "limit": limit, "offset": offset})


@requires_scopes("properties:read")
@_refusable
async def get_property(request: Request) -> Response:
    found = await _store(request).get_property(_property_id(request))
    if found is None:
        return api_error(404, "not_found", "no such property")
    return json_body(found.as_json())


def _created(request: Request, created: Property) -> Response:
    location = f"{request.scope.get('root_path', '')}/properties/{created.id}"
    return json_body(created.as_json(), status=201, headers={"Location": location})


@requires_scopes("properties:write")
@_refusable
async def create_property(request: Request) -> Response:
    fields = _parse(await _read_json(request))
    created = await _store(request).create_property(fields, created_by=_subject(request))
    log.info("demo property %s created", created.id)
    return _created(request, created)


@requires_scopes("properties:write")
@_refusable
async def replace_property(request: Request) -> Response:
    """``PUT``: every field but ``status`` is required (a missing ``status`` becomes ``available``)."""
    property_id = _property_id(request)
    fields = _parse(await _read_json(request))
    updated = await _store(request).update_property(property_id, fields)
    if updated is None:
        return api_error(404, "not_found", "no such property")
    return json_body(updated.as_json())


@requires_scopes("properties:write")
@_refusable
async def patch_property(request: Request) -> Response:
    """``PATCH``: only the fields sent change (a JSON object of fields, not JSON Patch)."""
    property_id = _property_id(request)
    body = await _read_json(request)
    store = _store(request)
    current = await store.get_property(property_id)
    if current is None:
        return api_error(404, "not_found", "no such property")
    updated = await store.update_property(property_id, _parse(body, current.fields))
    if updated is None:
        return api_error(404, "not_found", "no such property")
    return json_body(updated.as_json())


@requires_scopes("tenants:read")
async def list_tenants(request: Request) -> Response:
    """``GET /api/tenants``: the people renting the properties (housing tenants, not Pixie tenants)."""
    renters = await _store(request).list_renters()
    return json_body({"tenants": [r.as_json() for r in renters], "total": len(renters)})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = _HTTP_ERRORS.get(exc.status_code, "invalid_request")
    description = "no such resource" if exc.status_code == 404 else str(exc.detail).lower()
    return api_error(exc.status_code, error, description, headers=dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this response is sent, so the server logs the traceback; the client sees none.
    return api_error(500, "server_error", "the server could not complete the request")


def _by_method(handlers: dict[str, Handler]) -> Handler:
    """One route per path, so an unsupported method gets 405 with the full ``Allow`` list; each method's handler
    checks its own scope."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method  # Starlette adds HEAD wherever GET is
        return await handlers[method](request)

    return dispatch


def create_api(document: Mapping[str, Any], store: PropertyStore | None = None) -> Starlette:
    """The API's routes, relative to where it is mounted (``/api``), with its OpenAPI ``document`` at
    ``/openapi.json`` (the one route meant to be public). The store is set on ``app.state.store`` (here or by the
    caller's lifespan, once it is open)."""

    async def openapi(request: Request) -> Response:
        return json_body(document)

    collection = {"GET": list_properties, "POST": create_property}
    item = {"GET": get_property, "PUT": replace_property, "PATCH": patch_property}
    app = Starlette(
        routes=[
            Route("/properties", _by_method(collection), methods=list(collection)),
            Route("/properties/{property_id}", _by_method(item), methods=list(item)),
            Route("/tenants", list_tenants, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.store = store
    return app
