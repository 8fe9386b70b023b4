"""The Property API's OpenAPI 3.1 document, written by hand so it reads as documentation.

Bounds and choices come from :mod:`pixie.demo.models`, so the document and the validation cannot drift apart; the
tests check each response of the running API against the schemas here.
"""

from __future__ import annotations

from typing import Any

from pixie.demo.api import MAX_BODY_BYTES, MAX_OFFSET
from pixie.demo.config import API_AUDIENCE, CLIENT_ID
from pixie.demo.models import KINDS, LIMITS, STATUSES, TEXT_PATTERN

__all__ = ["openapi_document"]

_SCOPES = {
    "properties:read": "View properties",
    "properties:write": "Create and change properties",
    "tenants:read": "View the people renting the properties",
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _fields() -> dict[str, Any]:
    text = {
        name: {"type": "string", "maxLength": LIMITS[name], "pattern": TEXT_PATTERN}
        for name in ("name", "address", "city")
    }
    text["name"]["description"] = (
        "One line: no control characters, not only spaces. Stored trimmed, runs of whitespace as one space."
    )
    return {
        **text,
        "kind": {"type": "string", "enum": list(KINDS)},
        "bedrooms": {"type": "integer", "minimum": 0, "maximum": LIMITS["bedrooms"]},
        "monthly_rent": {
            "type": "integer",
            "minimum": 0,
            "maximum": LIMITS["monthly_rent"],
            "description": "Whole euros per month.",
        },
        "status": {"type": "string", "enum": list(STATUSES), "default": "available"},
    }


def _operation(
    operation_id: str, summary: str, scope: str | None, responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    errors = {"401": _ref("responses", "Unauthorized"), "403": _ref("responses", "Forbidden")}
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"pixie": [scope]}] if scope else [],
        **extra,
        "responses": {**responses, **(errors if scope else {})},
    }


def openapi_document(issuer: str) -> dict[str, Any]:
    """The document for the API served at ``{issuer}/api`` behind the Pixie issuer ``issuer``.

    Spec: OpenAPI 3.1.0; RFC 6750 §3 (the 401/403 challenges); RFC 7636 (the PKCE flow the SPA uses).
    """
    issuer = issuer.rstrip("/")
    property_id = {
        "name": "propertyId",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
    body_in = {"required": True, "content": {"application/json": {"schema": _ref("schemas", "PropertyInput")}}}
    body_patch = {"required": True, "content": {"application/json": {"schema": _ref("schemas", "PropertyPatch")}}}
    one_property = _json(_ref("schemas", "Property"), "The property.")
    write_errors = {
        "400": _ref("responses", "BadRequest"),
        "413": _ref("responses", "TooLarge"),
        "415": _ref("responses", "UnsupportedMediaType"),
    }
    output_fields = _fields()
    property_schema = {
        "type": "object",
        "required": ["id", *output_fields, "currency", "created_at", "updated_at", "created_by"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            **output_fields,
            "currency": {"const": "EUR"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": ["string", "null"], "description": "The `sub` of the user who created it."},
        },
        "additionalProperties": False,
    }
    input_fields = _fields()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pixie demo Property API",
            "version": "1.0.0",
            "description": (
                "A resource server protected by Pixie. Send `Authorization: Bearer <access token>` with a token"
                f" issued by {issuer} for the audience `{API_AUDIENCE}`. Errors are JSON objects with `error` and"
                " `error_description`; a missing or bad token is 401 and a missing scope 403, each with a"
                " `WWW-Authenticate: Bearer` challenge (RFC 6750)."
            ),
        },
        "servers": [{"url": f"{issuer}/api"}],
        "paths": {
            "/properties": {
                "get": _operation(
                    "listProperties",
                    "List properties, ordered by id",
                    "properties:read",
                    {
                        "200": _json(_ref("schemas", "PropertyList"), "One page."),
                        "400": _ref("responses", "BadRequest"),
                    },
                    parameters=[
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                        },
                    ],
                ),
                "post": _operation(
                    "createProperty",
                    "Add a property",
                    "properties:write",
                    {
                        "201": {
                            **_json(_ref("schemas", "Property"), "Created."),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        **write_errors,
                    },
                    requestBody=body_in,
                ),
            },
            "/properties/{propertyId}": {
                "parameters": [property_id],
                "get": _operation(
                    "getProperty",
                    "One property",
                    "properties:read",
                    {"200": one_property, "404": _ref("responses", "NotFound")},
                ),
                "put": _operation(
                    "replaceProperty",
                    "Replace a property's fields",
                    "properties:write",
                    {"200": one_property, "404": _ref("responses", "NotFound"), **write_errors},
                    requestBody=body_in,
                ),
                "patch": _operation(
                    "updateProperty",
                    "Change some of a property's fields",
                    "properties:write",
                    {"200": one_property, "404": _ref("responses", "NotFound"), **write_errors},
                    requestBody=body_patch,
                ),
            },
            "/tenants": {
                "get": _operation(
                    "listTenants",
                    "The people renting the properties",
                    "tenants:read",
                    {"200": _json(_ref("schemas", "TenantList"), "Every tenant.")},
                )
            },
            "/openapi.json": {
                "get": _operation(
                    "getOpenApiDocument",
                    "This document (public)",
                    None,
                    {"200": {"description": "The OpenAPI document.", "content": {"application/json": {}}}},
                )
            },
        },
        "components": {
            "securitySchemes": {
                "pixie": {
                    "type": "oauth2",
                    "description": f"Authorization code with PKCE (S256), public client `{CLIENT_ID}`.",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": f"{issuer}/authorize",
                            "tokenUrl": f"{issuer}/token",
                            "refreshUrl": f"{issuer}/token",
                            "scopes": _SCOPES,
                        }
                    },
                }
            },
            "schemas": {
                "Property": property_schema,
                "PropertyInput": {
                    "type": "object",
                    "required": ["name", "address", "city", "kind", "bedrooms", "monthly_rent"],
                    "properties": input_fields,
                    "additionalProperties": False,
                },
                "PropertyPatch": {
                    "type": "object",
                    "minProperties": 1,
                    "properties": input_fields,
                    "additionalProperties": False,
                },
                "PropertyList": {
                    "type": "object",
                    "required": ["properties", "total", "limit", "offset"],
                    "properties": {
                        "properties": {"type": "array", "items": _ref("schemas", "Property")},
                        "total": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                    },
                },
                "Tenant": {
                    "type": "object",
                    "required": ["id", "name", "email", "property_id", "property_name", "lease_start", "lease_end"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "email": {"type": "string", "format": "email"},
                        "property_id": {"type": "integer"},
                        "property_name": {"type": "string"},
                        "lease_start": {"type": "string", "format": "date"},
                        "lease_end": {"type": ["string", "null"], "format": "date"},
                        "monthly_rent": {"type": "integer", "minimum": 0},
                        "currency": {"const": "EUR"},
                    },
                },
                "TenantList": {
                    "type": "object",
                    "required": ["tenants", "total"],
                    "properties": {
                        "tenants": {"type": "array", "items": _ref("schemas", "Tenant")},
                        "total": {"type": "integer", "minimum": 0},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "error_description"],
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
                },
            },
            "responses": {
                "BadRequest": _json(_ref("schemas", "Error"), "The input was refused (`invalid_request`)."),
                "NotFound": _json(_ref("schemas", "Error"), "No such property (`not_found`)."),
                "TooLarge": _json(
                    _ref("schemas", "Error"), f"The body is over {MAX_BODY_BYTES} bytes (`request_too_large`)."
                ),
                "UnsupportedMediaType": _json(
                    _ref("schemas", "Error"), "The body is not `application/json` (`unsupported_media_type`)."
                ),
                "Unauthorized": {
                    **_json(_ref("schemas", "Error"), "No token, or a bad one (`invalid_token`)."),
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                },
                "Forbidden": {
                    **_json(_ref("schemas", "Error"), "The token lacks the scope (`insufficient_scope`)."),
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                },
            },
        },
    }
