"""Pixie's OpenAPI 3.1 document for the machine-facing endpoints, served at ``GET /openapi.json``.

The document is written by hand (Pixie's endpoints parse their own forms, so nothing could be derived from type
hints) and says exactly what the endpoints do: form bodies, the client authentication they accept, every status code
they return with the RFC 6749 §5.2 error object, and the caching headers. Error codes per status are taken from the
error classes in :mod:`pixie.errors`, so the two cannot drift apart. The fuzz suite (``tests/fuzz``) holds the
running server to this document.

The document is assembled from :class:`ApiFragment` values — ``paths`` plus the ``components`` they refer to — so
another part of the server (an admin API) adds its own fragment and :func:`build_document` merges them, refusing a
path or component defined twice.

Spec: OpenAPI 3.1.0; RFC 6749 §3.2, §4.1.3, §4.4.2, §5, §6; RFC 7009 §2; RFC 7662 §2; RFC 8414 §3; RFC 7517 §5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pixie import __version__, errors
from pixie.server.context import context_of
from pixie.server.rendering import json_response

__all__ = ["DESCRIPTION_PATTERN", "ApiFragment", "back_channel_fragment", "build_document", "openapi_json"]

JSON = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
DESCRIPTION_PATTERN = "^[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]+$"
"""RFC 6749 §5.2: ``error_description`` is printable ASCII without ``"`` and ``\\``."""
_VSCHAR = "^[\\x20-\\x7E]*$"  # RFC 6749 Appendix A: client_id, client_secret, code, refresh_token, state
_SCOPE = "^[\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+)*$"  # RFC 6749 §3.3
_VERIFIER = "^[A-Za-z0-9._~-]{43,128}$"  # RFC 7636 §4.1


@dataclass(frozen=True)
class ApiFragment:
    """Part of the document: path items plus the named components (``schemas``, ``responses``,
    ``securitySchemes``…) they refer to."""

    paths: Mapping[str, JSON]
    components: Mapping[str, Mapping[str, JSON]] = field(default_factory=dict)
    tags: Sequence[JSON] = ()


def build_document(*fragments: ApiFragment, server_url: str | None = None) -> JSON:
    """One OpenAPI 3.1 document from ``fragments``. A path or component defined by two fragments is a
    programming error (``ValueError``), never a silent override."""
    paths: JSON = {}
    components: dict[str, JSON] = {}
    tags: list[JSON] = []
    for fragment in fragments:
        for path, item in fragment.paths.items():
            if path in paths:
                raise ValueError(f"OpenAPI path {path} is defined twice")
            paths[path] = item
        for kind, named in fragment.components.items():
            section = components.setdefault(kind, {})
            for name, value in named.items():
                if name in section and section[name] != value:
                    raise ValueError(f"OpenAPI component {kind}/{name} is defined twice")
                section[name] = value
        tags.extend(tag for tag in fragment.tags if tag not in tags)
    document: JSON = {
        "openapi": "3.1.0",
        "info": {
            "title": "Pixie authorization server",
            "version": __version__,
            "description": (
                "The machine-facing endpoints of a Pixie authorization server. Each path also exists under "
                "/t/{tenant} for a tenant other than the default one. Browser endpoints (/authorize, /login, "
                "/consent) render HTML and are not described here."
            ),
        },
        "paths": paths,
        "components": components,
    }
    if tags:
        document["tags"] = tags
    if server_url is not None:
        document["servers"] = [{"url": server_url}]
    return document


async def openapi_json(request: Request) -> Response:
    """``GET /openapi.json``: the document for this server, with its issuer as the server URL."""
    return json_response(_served_document(context_of(request).settings.issuer), max_age=300)


@cache
def _served_document(issuer: str) -> JSON:
    # Imported here: the admin API's fragment module builds on ApiFragment from this one.
    from pixie.server.endpoints.admin_api_doc import admin_api_fragment

    return build_document(back_channel_fragment(), admin_api_fragment(), server_url=issuer)


# --- building blocks ---------------------------------------------------------------------------------------------


def _header(description: str, schema: JSON, *, required: bool = True) -> JSON:
    return {"description": description, "required": required, "schema": schema}


_NO_STORE = {
    "Cache-Control": _header("Never cached (RFC 6749 §5.1).", {"type": "string", "const": "no-store"}),
    "Pragma": _header("For HTTP/1.0 caches.", {"type": "string", "const": "no-cache"}),
}
_RETRY_AFTER = _header("Seconds to wait before retrying (RFC 9110 §10.2.3).", {"type": "string", "pattern": "^[0-9]+$"})


def _cacheable(seconds: int) -> JSON:
    value = f"public, max-age={seconds}"
    return {"Cache-Control": _header(f"Cacheable for {seconds} s.", {"type": "string", "const": value})}


def _json(schema: JSON) -> JSON:
    return {"application/json": {"schema": schema}}


def _ref(kind: str, name: str) -> JSON:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error_schema(*classes: type[errors.OAuthError]) -> JSON:
    codes = sorted({cls.error for cls in classes})
    return {"allOf": [_ref("schemas", "OAuthError"), {"properties": {"error": {"enum": codes}}}]}


def _error(description: str, *classes: type[errors.OAuthError], headers: Mapping[str, JSON] | None = None) -> JSON:
    return {
        "description": description,
        "headers": {**_NO_STORE, **(headers or {})},
        "content": _json(_error_schema(*classes)),
    }


def _form(schema: JSON) -> JSON:
    return {"required": True, "content": {FORM: {"schema": schema}}}


_CLIENT_AUTH_PROPERTIES: JSON = {
    "client_id": {"type": "string", "pattern": _VSCHAR, "description": "Required unless Basic auth is used."},
    "client_secret": {
        "type": "string",
        "pattern": _VSCHAR,
        "description": "client_secret_post; never together with Basic auth (RFC 6749 §2.3.1).",
    },
}
_CLIENT_AUTH_DOC = (
    "Public clients send client_id only; confidential clients authenticate with HTTP Basic (client_secret_basic) "
    "or client_id + client_secret in the body (client_secret_post), never both."
)
# An empty requirement first: public clients and client_secret_post authenticate in the body.
_OPTIONAL_BASIC: list[JSON] = [{}, {"clientSecretBasic": []}]

_COMMON_RESPONSES: JSON = {
    "404": _ref("responses", "TenantNotFound"),
    "413": _ref("responses", "ContentTooLarge"),
    "500": _ref("responses", "ServerError"),
    "503": _ref("responses", "Unavailable"),
}


def _object(properties: JSON, required: str = "", *, closed: bool = False, description: str | None = None) -> JSON:
    """An object schema; ``required`` names the required properties, separated by spaces."""
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required.split()
    if closed:
        schema["additionalProperties"] = False
    if description is not None:
        schema["description"] = description
    return schema


_STR: JSON = {"type": "string"}
_URI: JSON = {"type": "string", "format": "uri"}
_INT: JSON = {"type": "integer"}


def _list_of(item: JSON) -> JSON:
    return {"type": "array", "items": item}


def _components() -> Mapping[str, Mapping[str, JSON]]:
    oauth_error = {
        "error": {"type": "string", "pattern": "^[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]+$"},
        "error_description": {"type": "string", "pattern": DESCRIPTION_PATTERN},
        "error_uri": {"type": "string", "pattern": "^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$"},
    }
    token = {
        "access_token": {"type": "string", "minLength": 1, "description": "An RFC 9068 JWT."},
        "token_type": {"enum": ["Bearer", "DPoP"], "description": "DPoP when the request carried a proof (RFC 9449)."},
        "expires_in": {"type": "integer", "minimum": 0},
        "scope": _STR,
        "refresh_token": {"type": "string", "minLength": 1},
        "id_token": {"type": "string", "minLength": 1, "description": "OpenID Connect, when the scope holds openid."},
    }
    introspection = {
        "active": {"type": "boolean"},
        **dict.fromkeys(("token_type", "scope", "client_id", "sub", "iss", "jti"), _STR),
        "aud": {"oneOf": [_STR, _list_of(_STR)]},
        **dict.fromkeys(("iat", "exp", "auth_time"), _INT),
    }
    metadata = {
        **dict.fromkeys(("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"), _URI),
        **dict.fromkeys(("revocation_endpoint", "introspection_endpoint"), _URI),
        "response_types_supported": _list_of({"const": "code"}),
        "response_modes_supported": _list_of({"enum": ["query", "form_post"]}),
        "grant_types_supported": _list_of(_STR),
        "code_challenge_methods_supported": _list_of({"const": "S256"}),
        **{f"{m}_endpoint_auth_methods_supported": _list_of(_STR) for m in ("token", "revocation", "introspection")},
        "authorization_response_iss_parameter_supported": {"const": True},
        "pushed_authorization_request_endpoint": _URI,
        "require_pushed_authorization_requests": {"type": "boolean"},
        "dpop_signing_alg_values_supported": _list_of(_STR),
    }
    jwk = {
        "kty": {"enum": ["EC", "RSA", "OKP"]},
        "kid": {"type": "string", "description": "RFC 7638 thumbprint."},
        "alg": {"enum": ["ES256", "RS256", "Ed25519"]},
        "use": {"const": "sig"},
    }
    public_jwk = _object(jwk, "kty kid alg use")
    public_jwk["not"] = {"anyOf": [{"required": [name]} for name in ("d", "p", "q")]}  # never a private part
    schemas: JSON = {
        "OAuthError": _object(
            oauth_error, "error error_description", closed=True, description="RFC 6749 §5.2 error response."
        ),
        "TokenResponse": _object(
            token,
            "access_token token_type expires_in scope",
            closed=True,
            description="RFC 6749 §5.1. client_credentials never returns a refresh token (§4.4.3).",
        ),
        "IntrospectionResponse": _object(
            introspection, "active", description='RFC 7662 §2.2: an inactive token is only {"active": false}.'
        ),
        "Metadata": _object(
            metadata,
            "issuer authorization_endpoint token_endpoint jwks_uri response_types_supported grant_types_supported "
            "code_challenge_methods_supported",
            description="RFC 8414 §2 authorization server metadata.",
        ),
        "JWKSet": _object(
            {"keys": _list_of(public_jwk)}, "keys", closed=True, description="RFC 7517 §5: published public keys."
        ),
        "OpenApiDocument": _object({}, "openapi info paths"),
        "Health": _object({"status": {"const": "ok"}}, "status", closed=True),
        "Readiness": _object(
            {"status": {"enum": ["ready", "unavailable"]}, "database": {"enum": ["ok", "unreachable"]}},
            "status database",
            closed=True,
        ),
    }
    responses: JSON = {
        "InvalidClient": _error(
            "Client authentication failed (RFC 6749 §5.2). With Basic credentials the response carries "
            "WWW-Authenticate: Basic.",
            errors.InvalidClient,
            headers={"WWW-Authenticate": _header("Basic challenge.", {"type": "string"}, required=False)},
        ),
        "TenantNotFound": _error("The path names no enabled tenant.", errors.InvalidRequest),
        "ContentTooLarge": _error(
            "The request announced or sent a body past 64 KiB (RFC 9110 §15.5.14).", errors.InvalidRequest
        ),
        "ServerError": _error("An unexpected fault; logged, never detailed.", errors.ServerError),
        "Unavailable": _error(
            "The database cannot be reached; retry later.",
            errors.TemporarilyUnavailable,
            headers={"Retry-After": _RETRY_AFTER},
        ),
        "RateLimited": _error(
            "A rate limit was hit (per client or per IP); retry after Retry-After seconds (RFC 6585 §4).",
            errors.TemporarilyUnavailable,
            headers={"Retry-After": _RETRY_AFTER},
        ),
    }
    basic = "client_secret_basic: id and secret form-urlencoded, then Basic (RFC 6749 §2.3.1)."
    security = {"clientSecretBasic": {"type": "http", "scheme": "basic", "description": basic}}
    return {"schemas": schemas, "responses": responses, "securitySchemes": security}


def _token_request() -> JSON:
    def grant(name: str, required: Sequence[str], properties: JSON, description: str) -> JSON:
        return {
            "type": "object",
            "description": description,
            "required": ["grant_type", *required],
            "properties": {"grant_type": {"const": name}, **properties, **_CLIENT_AUTH_PROPERTIES},
        }

    return {
        "oneOf": [
            grant(
                "authorization_code",
                ["code", "code_verifier"],
                {
                    "code": {"type": "string", "minLength": 1, "pattern": _VSCHAR},
                    "code_verifier": {"type": "string", "pattern": _VERIFIER},
                    "redirect_uri": {"type": "string", "description": "Required iff it was sent to /authorize."},
                },
                "RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5).",
            ),
            grant(
                "refresh_token",
                ["refresh_token"],
                {
                    "refresh_token": {"type": "string", "minLength": 1, "pattern": _VSCHAR},
                    "scope": {"type": "string", "pattern": _SCOPE},
                },
                "RFC 6749 §6; the refresh token rotates on every use.",
            ),
            grant(
                "client_credentials",
                [],
                {"scope": {"type": "string", "pattern": _SCOPE}},
                "RFC 6749 §4.4.2; confidential clients only.",
            ),
        ]
    }


def _token_management_request(description: str) -> JSON:
    return {
        "type": "object",
        "description": description,
        "required": ["token"],
        "properties": {
            "token": {"type": "string", "minLength": 1},
            "token_type_hint": {"enum": ["access_token", "refresh_token"]},
            **_CLIENT_AUTH_PROPERTIES,
        },
    }


def _get(summary: str, schema_name: str, headers: JSON, *, tenant: bool = True) -> JSON:
    responses: JSON = {
        "200": {"description": summary, "headers": headers, "content": _json(_ref("schemas", schema_name))},
        "413": _ref("responses", "ContentTooLarge"),
        "500": _ref("responses", "ServerError"),
    }
    if tenant:
        responses.update({"404": _ref("responses", "TenantNotFound"), "503": _ref("responses", "Unavailable")})
    return {"get": {"summary": summary, "security": [], "responses": dict(sorted(responses.items()))}}


def _post(summary: str, spec: str, body: JSON, ok: JSON, bad_request: JSON, *, rate_limited: bool = False) -> JSON:
    """A back-channel POST: form body, client authentication, the shared error responses."""
    responses = {"200": ok, "400": bad_request, "401": _ref("responses", "InvalidClient"), **_COMMON_RESPONSES}
    if rate_limited:
        responses["429"] = _ref("responses", "RateLimited")
    operation = {
        "tags": ["oauth"],
        "summary": summary,
        "description": f"{_CLIENT_AUTH_DOC} Spec: {spec}.",
        "security": _OPTIONAL_BASIC,
        "requestBody": _form(body),
        "responses": dict(sorted(responses.items())),
    }
    return {"post": operation}


def _ok(description: str, schema_name: str | None = None) -> JSON:
    response: JSON = {"description": description, "headers": _NO_STORE}
    if schema_name is not None:
        response["content"] = _json(_ref("schemas", schema_name))
    return response


def back_channel_fragment() -> ApiFragment:
    """``/token``, ``/revoke``, ``/introspect``, discovery, JWKS, health and this document itself."""
    token = _post(
        "Token endpoint: authorization_code, refresh_token, client_credentials",
        "RFC 6749 §3.2, §5; OAuth 2.1 §3.2",
        _token_request(),
        _ok("Tokens.", "TokenResponse"),
        _error(
            "Malformed request, bad grant, grant not allowed, unknown grant type or scope (RFC 6749 §5.2).",
            errors.InvalidRequest,
            errors.InvalidGrant,
            errors.UnauthorizedClient,
            errors.UnsupportedGrantType,
            errors.InvalidScope,
        ),
        rate_limited=True,
    )
    revoke = _post(
        "Revoke a refresh token (with its family) or an access token; unknown or foreign tokens still answer 200",
        "RFC 7009 §2",
        _token_management_request("RFC 7009 §2.1."),
        _ok("Revoked, or nothing to revoke (empty body)."),
        _error("Malformed request or unknown token_type_hint.", errors.InvalidRequest, errors.UnsupportedTokenType),
    )
    introspect = _post(
        "Introspect a token (confidential clients only)",
        "RFC 7662 §2, §4",
        _token_management_request("RFC 7662 §2.1."),
        _ok("The token's state.", "IntrospectionResponse"),
        _error(
            "Malformed request, unknown token_type_hint, or a public client.",
            errors.InvalidRequest,
            errors.UnsupportedTokenType,
            errors.UnauthorizedClient,
        ),
    )
    readyz = _get("Ready: the database answers.", "Readiness", _NO_STORE, tenant=False)
    readyz["get"]["responses"]["503"] = {
        "description": "Not ready: the database did not answer within 2 s.",
        "headers": {**_NO_STORE, "Retry-After": _RETRY_AFTER},
        "content": _json(_ref("schemas", "Readiness")),
    }
    return ApiFragment(
        paths={
            "/token": token,
            "/revoke": revoke,
            "/introspect": introspect,
            "/.well-known/oauth-authorization-server": _get("RFC 8414 metadata.", "Metadata", _cacheable(300)),
            "/.well-known/openid-configuration": _get(
                "OpenID Connect Discovery 1.0 §4: the same document as the RFC 8414 one.", "Metadata", _cacheable(300)
            ),
            "/jwks.json": _get("RFC 7517 JWK set.", "JWKSet", _cacheable(60)),
            "/healthz": _get("Alive: the process answers.", "Health", _NO_STORE, tenant=False),
            "/readyz": readyz,
            "/openapi.json": _get("This document.", "OpenApiDocument", _cacheable(300), tenant=False),
        },
        components=_components(),
        tags=[{"name": "oauth", "description": "OAuth 2.1 back-channel endpoints."}],
    )
