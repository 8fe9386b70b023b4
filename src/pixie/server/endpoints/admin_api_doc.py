"""The admin API's part of the OpenAPI document (:mod:`pixie.server.openapi` merges it into ``/openapi.json``).

Written by hand like the rest of the document, next to nothing but itself: the shapes here are exactly what
:mod:`pixie.server.endpoints.admin_api` answers (``tenant_view``, ``client_view``, ``user_view``).

Spec: OpenAPI 3.1.0; RFC 6750 §3 (bearer challenges).
"""

from __future__ import annotations

from typing import Any

from pixie.server.openapi import ApiFragment
from pixie.tenancy import REGISTRATION_POLICIES, SETTING_LIMITS, TENANT_GRANT_TYPES

__all__ = ["admin_api_fragment"]

JSON = dict[str, Any]
TAG = "admin"
_AUTH_DOC = (
    "Needs `Authorization: Bearer <access token>` with the `pixie:admin` scope, issued by the default tenant "
    "(checked locally: signature, `iss`, `aud` = the issuer, expiry, revocation). People get one through a user flow "
    "(only users with the `admin` role may receive the scope); automation registers a confidential client in the "
    "default tenant with scope `pixie:admin` and the `client_credentials` grant, e.g. `pixie clients create ops "
    "--generate-secret --grant-type client_credentials --scope pixie:admin`, and asks `/token` for a token. A "
    "token of any other tenant is refused even with `pixie:admin`."
)


def _ref(kind: str, name: str) -> JSON:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: JSON) -> JSON:
    return {"application/json": {"schema": schema}}


def _string(**extra: Any) -> JSON:
    return {"type": "string", **extra}


def _strings() -> JSON:
    return {"type": "array", "items": {"type": "string"}}


def _seconds(name: str) -> JSON:
    low, high = SETTING_LIMITS[name]
    return {"type": "integer", "minimum": low, "maximum": high}


def _nullable_int() -> JSON:
    return {"type": ["integer", "null"]}


def _object(properties: JSON, *, required: tuple[str, ...] = (), closed: bool = True) -> JSON:
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _settings(*, every: bool) -> JSON:
    properties = {
        "access_token_ttl": _seconds("access_token_ttl"),
        "refresh_idle_ttl": _seconds("refresh_idle_ttl"),
        "refresh_absolute_ttl": _seconds("refresh_absolute_ttl"),
        "refresh_grace_seconds": _seconds("refresh_grace_seconds"),
        "allowed_grant_types": {"type": "array", "minItems": 1, "items": {"enum": list(TENANT_GRANT_TYPES)}},
        "login_title": _string(minLength=1, maxLength=80),
        "brand_color": _string(pattern="^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", description="#rgb or #rrggbb"),
        "dpop_nonce": {"type": "boolean", "description": "Require the server's nonce in DPoP proofs."},
        "require_pushed_authorization_requests": {"type": "boolean", "description": "Every request pushed (PAR)."},
        "registration": {"enum": list(REGISTRATION_POLICIES), "description": "Dynamic client registration (RFC 7591)."},
        "registration_scopes": {
            "type": "array",
            "items": _string(pattern="^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$"),
            "description": "Scopes self-registered clients may ask for.",
        },
        "registration_idle_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "client_metadata_documents": {"type": "boolean", "description": "https URLs as client ids."},
        "insecure_client_metadata_loopback": {"type": "boolean", "description": "Development only."},
    }
    if every:
        properties["signing_alg"] = _string()
        return _object(properties, required=tuple(properties))
    return _object(properties)


def _schemas() -> JSON:
    client = {
        "tenant": _string(),
        "client_id": _string(),
        "name": _string(),
        "logo_uri": {"type": ["string", "null"]},
        "client_type": {"enum": ["public", "confidential"]},
        "token_endpoint_auth_method": {"enum": ["none", "client_secret_basic", "client_secret_post"]},
        "redirect_uris": _strings(),
        "grant_types": _strings(),
        "scope": _string(description="Space-separated scopes the client may ask for."),
        "audiences": _strings(),
        "refresh_grace_seconds": {"type": "integer"},
        "access_token_ttl": _nullable_int(),
        "refresh_idle_ttl": _nullable_int(),
        "refresh_absolute_ttl": _nullable_int(),
        "post_logout_redirect_uris": _strings(),
        "id_token_signed_response_alg": {"type": ["string", "null"]},
        "dpop_bound_access_tokens": {"type": "boolean"},
        "require_pushed_authorization_requests": {"type": "boolean"},
        "disabled": {"type": "boolean"},
        "created_at": {"type": "number"},
    }
    profile: JSON = {
        "name": _string(maxLength=255),
        "given_name": _string(maxLength=255),
        "family_name": _string(maxLength=255),
        "email": _string(description="An email address; an empty string clears it."),
        "email_verified": {"type": "boolean"},
    }
    names = ("name", "given_name", "family_name", "email")
    shown_profile: JSON = {name: {"type": ["string", "null"]} for name in names}
    shown_profile["email_verified"] = {"type": "boolean"}
    resource: JSON = {
        "tenant": _string(),
        "resource": _string(description="The identifier: tokens issued for it carry it as aud."),
        "name": _string(),
        "scope": _string(description="Space-separated scopes it accepts (empty: any scope of the client)."),
        "access_token_ttl": _nullable_int(),
        "created_at": _string(format="date-time"),
    }
    resource_change: JSON = {
        "name": _string(maxLength=100),
        "scope": _string(),
        "access_token_ttl": {"type": "integer", "minimum": 1, "maximum": 86400},
    }
    new_client = {**client, "client_secret": _string(description="Generated; shown only in this answer.")}
    return {
        "AdminError": _object(
            {"error": _string(), "error_description": _string()}, required=("error", "error_description"), closed=False
        ),
        "AdminTenantSettings": _settings(every=True),
        "AdminTenantSettingsChange": _settings(every=False),
        "AdminTenant": _object(
            {
                "tenant": _string(),
                "display_name": _string(),
                "issuer": _string(format="uri"),
                "disabled": {"type": "boolean"},
                "created_at": {"type": "number"},
                "settings": _ref("schemas", "AdminTenantSettings"),
            },
            required=("tenant", "display_name", "issuer", "disabled", "created_at", "settings"),
        ),
        "AdminNewTenant": _object(
            {
                "name": _string(pattern="^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"),
                "display_name": _string(minLength=1, maxLength=100),
                "settings": _ref("schemas", "AdminTenantSettingsChange"),
            },
            required=("name",),
        ),
        "AdminClient": _object(client, required=tuple(client)),
        "AdminCreatedClient": _object(new_client, required=tuple(client)),
        "AdminNewClient": _object(
            {
                "client_id": _string(minLength=1, maxLength=255),
                "public": {"type": "boolean", "description": "true: no secret, PKCE only; false: a secret is made."},
                "redirect_uris": _strings(),
                "grant_types": {"type": "array", "items": {"enum": list(TENANT_GRANT_TYPES)}},
                "scope": _string(),
                "audiences": _strings(),
                "refresh_grace_seconds": {"type": "integer", "minimum": 0, "maximum": 60},
                "access_token_ttl": {"type": "integer", "minimum": 1},
                "refresh_idle_ttl": {"type": "integer", "minimum": 1},
                "refresh_absolute_ttl": {"type": "integer", "minimum": 1},
                "post_logout_redirect_uris": _strings(),
                "id_token_signed_response_alg": {"enum": ["ES256", "RS256"]},
                "dpop_bound_access_tokens": {"type": "boolean"},
                "require_pushed_authorization_requests": {"type": "boolean"},
            },
            required=("client_id", "public"),
        ),
        "AdminUser": _object(
            {
                "tenant": _string(),
                "username": _string(),
                "sub": _string(),
                "roles": _strings(),
                "disabled": {"type": "boolean"},
                "created_at": {"type": "number"},
                **shown_profile,
            },
            required=("tenant", "username", "sub", "roles", "disabled", "created_at", *shown_profile),
        ),
        "AdminNewUser": _object(
            {"username": _string(minLength=1, maxLength=255), "password": _string(), "roles": _strings(), **profile},
            required=("username", "password"),
        ),
        "AdminUserProfile": _object(profile),
        "AdminResource": _object(resource, required=tuple(resource)),
        "AdminNewResource": _object(
            {
                "resource": _string(
                    minLength=1, maxLength=2000, description="An absolute URI without fragment (RFC 8707 §2)."
                ),
                **resource_change,
            },
            required=("resource",),
        ),
        "AdminResourceChange": _object(
            {**resource_change, "access_token_ttl": {"type": ["integer", "null"], "minimum": 1, "maximum": 86400}}
        ),
        "AdminDeletedResource": _object(
            {"tenant": _string(), "resource": _string(), "deleted": {"const": True}},
            required=("tenant", "resource", "deleted"),
        ),
    }


def _error(description: str, *, challenge: bool = False) -> JSON:
    response: JSON = {
        "description": description,
        "headers": {"Cache-Control": {"required": True, "schema": {"const": "no-store"}}},
        "content": _json(_ref("schemas", "AdminError")),
    }
    if challenge:
        response["headers"]["WWW-Authenticate"] = {
            "required": True,
            "description": "RFC 6750 §3 Bearer challenge, realm pixie-admin.",
            "schema": _string(pattern='^Bearer realm="pixie-admin"'),
        }
    return response


def _responses() -> JSON:
    return {
        "AdminBadRequest": _error("Invalid input; the description says what to fix.", challenge=False),
        "AdminUnauthorized": _error(
            "No token, or a token that is invalid, expired, revoked or foreign.", challenge=True
        ),
        "AdminForbidden": _error("The token lacks the pixie:admin scope (insufficient_scope).", challenge=True),
        "AdminNotFound": _error("No such tenant, client or user."),
        "AdminConflict": _error("It exists already."),
        "AdminUnsupportedMediaType": _error("The body must be application/json."),
    }


def _operation(summary: str, ok: JSON, *, status: str = "200", body: str | None = None, conflict: bool = False) -> JSON:
    responses: JSON = {
        status: {"description": summary, "content": _json(ok)},
        "400": _ref("responses", "AdminBadRequest"),
        "401": _ref("responses", "AdminUnauthorized"),
        "403": _ref("responses", "AdminForbidden"),
        "404": _ref("responses", "AdminNotFound"),
    }
    operation: JSON = {"tags": [TAG], "summary": summary, "security": [{"pixieAdmin": []}], "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref("schemas", body))}
        responses["415"] = _ref("responses", "AdminUnsupportedMediaType")
    if conflict:
        responses["409"] = _ref("responses", "AdminConflict")
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _params(*names: str) -> list[JSON]:
    return [{"name": name, "in": "path", "required": True, "schema": _string()} for name in names]


def admin_api_fragment() -> ApiFragment:
    """Paths under ``/admin/api`` with their schemas, responses and the ``pixieAdmin`` bearer scheme."""
    tenant_ref, client_ref, user_ref, resource_ref = (
        _ref("schemas", n) for n in ("AdminTenant", "AdminClient", "AdminUser", "AdminResource")
    )

    def listing(key: str, item: JSON) -> JSON:
        return _object({key: {"type": "array", "items": item}}, required=(key,))

    p = "/admin/api/tenants"
    paths: JSON = {
        p: {
            "get": {**_operation("List tenants", listing("tenants", tenant_ref)), "description": _AUTH_DOC},
            "post": _operation(
                "Create a tenant with its own keys", tenant_ref, status="201", body="AdminNewTenant", conflict=True
            ),
        },
        p + "/{tenant}": {"parameters": _params("tenant"), "get": _operation("One tenant", tenant_ref)},
        p + "/{tenant}/settings": {
            "parameters": _params("tenant"),
            "patch": _operation("Change settings (only the fields sent)", tenant_ref, body="AdminTenantSettingsChange"),
        },
        p + "/{tenant}/disable": {
            "parameters": _params("tenant"),
            "post": _operation("Disable: every endpoint of the tenant answers 404", tenant_ref),
        },
        p + "/{tenant}/enable": {"parameters": _params("tenant"), "post": _operation("Enable again", tenant_ref)},
        p + "/{tenant}/clients": {
            "parameters": _params("tenant"),
            "get": _operation("List the tenant's clients", listing("clients", client_ref)),
            "post": _operation(
                "Register a client (a confidential one's secret is shown once)",
                _ref("schemas", "AdminCreatedClient"),
                status="201",
                body="AdminNewClient",
                conflict=True,
            ),
        },
        p + "/{tenant}/clients/{client_id}": {
            "parameters": _params("tenant", "client_id"),
            "get": _operation("One client", client_ref),
        },
        p + "/{tenant}/clients/{client_id}/disable": {
            "parameters": _params("tenant", "client_id"),
            "post": _operation("Disable a client", client_ref),
        },
        p + "/{tenant}/clients/{client_id}/enable": {
            "parameters": _params("tenant", "client_id"),
            "post": _operation("Enable a client", client_ref),
        },
        p + "/{tenant}/users": {
            "parameters": _params("tenant"),
            "get": _operation("List the tenant's users", listing("users", user_ref)),
            "post": _operation(
                "Create a user (password in the body, stored as Argon2id)",
                user_ref,
                status="201",
                body="AdminNewUser",
                conflict=True,
            ),
        },
        p + "/{tenant}/users/{username}": {
            "parameters": _params("tenant", "username"),
            "patch": _operation(
                "Change a user's profile (OpenID Connect claims): fields left out stay",
                user_ref,
                body="AdminUserProfile",
            ),
        },
        p + "/{tenant}/users/{username}/disable": {
            "parameters": _params("tenant", "username"),
            "post": _operation("Disable a user: no more sign-ins, sessions stop counting", user_ref),
        },
        p + "/{tenant}/users/{username}/enable": {
            "parameters": _params("tenant", "username"),
            "post": _operation("Enable a user", user_ref),
        },
        p + "/{tenant}/resources": {
            "parameters": _params("tenant"),
            "get": _operation("List the tenant's protected resources", listing("resources", resource_ref)),
            "post": _operation(
                "Register a protected resource (RFC 8707)",
                resource_ref,
                status="201",
                body="AdminNewResource",
                conflict=True,
            ),
        },
        p + "/{tenant}/resources/{resource}": {
            "parameters": _params("tenant", "resource"),
            "get": _operation("One protected resource (its identifier percent-encoded in the path)", resource_ref),
            "patch": _operation(
                "Change a resource: fields left out stay; access_token_ttl null: the client's or tenant's",
                resource_ref,
                body="AdminResourceChange",
            ),
            "delete": _operation("Delete a resource: no new tokens for it", _ref("schemas", "AdminDeletedResource")),
        },
    }
    security = {
        "pixieAdmin": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An RFC 9068 access token of the default tenant with the pixie:admin scope.",
        }
    }
    return ApiFragment(
        paths=paths,
        components={"schemas": _schemas(), "responses": _responses(), "securitySchemes": security},
        tags=[{"name": TAG, "description": "Manage tenants, clients, users and protected resources. " + _AUTH_DOC}],
    )
