"""``/admin/api/...``: the JSON admin API — what ``pixie tenants|clients|users|resources`` do, over HTTP.

Every call needs ``Authorization: Bearer <token>`` where the token is an access token of the **default** tenant
carrying the ``pixie:admin`` scope, checked locally: signature by one of the default tenant's published keys,
``typ`` at+jwt, ``iss`` = the default tenant's issuer, not expired, not revoked, and ``aud`` naming that issuer
(RFC 9068 §4). A token of any other tenant fails the issuer and key checks even when it carries ``pixie:admin``.
People get such a token through a user flow (only holders of the ``admin`` role may receive the scope,
:data:`pixie.scopes.BUILTIN_SCOPE_ROLES`); automation uses a confidential client of the default tenant registered
with scope ``pixie:admin`` and the ``client_credentials`` grant.

The token's client and user are checked on every call too: a token of a disabled or deleted client or user, or
of a user who no longer holds the ``admin`` role, is refused at once (users are read afresh; clients through the
server's client cache, so a client disabled on another instance or by the CLI counts within 5 s).

Failures: no token → 401 with a bare ``Bearer`` challenge; a bad token → 401 ``invalid_token``; a token without
the scope → 403 ``insufficient_scope`` (RFC 6750 §3.1). Bad input → 400, unknown tenant/client/user → 404, a
duplicate → 409, all as ``{"error", "error_description"}``. No response ever holds a password, a hash or a sealed
secret; a generated client secret appears once, in the answer that created it.

Changes apply at once in this process (the tenant resolver entry and cached client are dropped) and within the
caches' lifetimes (tenants 10 s, clients 5 s) on other instances.

Spec: RFC 6750 §2.1, §3; RFC 9068 §4.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from pixie.accounts import set_client_disabled, set_user_disabled
from pixie.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from pixie.management import (
    ID_TOKEN_ALGS,
    InvalidRegistration,
    NotFound,
    Profile,
    client_view,
    create_tenant,
    create_user,
    register_client,
    set_tenant_disabled,
    update_user_profile,
)
from pixie.management import update_tenant_settings as apply_settings
from pixie.protected_resources import (
    ResourceChanges,
    create_resource,
    delete_resource,
    find_resource,
    resource_view,
    update_resource,
)
from pixie.server.admin_session import ADMIN_SCOPE, holds_admin_role
from pixie.server.context import AppContext, context_of
from pixie.server.json_input import parse_json
from pixie.server.protocol.token_introspection import token_parties, token_user
from pixie.server.rendering import json_response
from pixie.server.routing import Endpoint
from pixie.storage.interfaces import AlreadyExists
from pixie.storage.records import Client, Tenant, TenantSettings, User
from pixie.tenancy import DEFAULT_TENANT, SETTING_LIMITS, change_settings, tenant_view
from pixie.tokens.validation import own_access_token_claims

__all__ = ["REALM", "admin_api_routes"]

REALM = "pixie-admin"
PREFIX = "/admin/api"
Handler = Callable[[Request, AppContext], Awaitable[Response]]


class ApiError(Exception):
    """A refusal of the admin API: status, a short machine code and a sentence for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    response = json_response({"error": code, "error_description": message}, status=status, no_store=True)
    response.headers.update(headers or {})
    return response


def _bearer_failure(exc: OAuthError, *, scope: str | None = None) -> Response:
    rendered = exc.render_bearer(realm=REALM, scope=scope)
    return Response(rendered.body, status_code=rendered.status, headers=rendered.headers)


async def _authorize(request: Request, ctx: AppContext) -> Response | None:
    """None when the request carries a valid admin token of the default tenant, whose client and user are enabled
    and whose user (if any) still holds the ``admin`` role; else the 401/403 to send.

    Spec: RFC 6750 §2.1 (header), §3 and §3.1 (challenges); RFC 9068 §4 (validation, ``aud``)."""
    header = request.headers.get("authorization")
    if header is None:
        # RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
        return _error(
            401, "invalid_token", "an access token is required", {"WWW-Authenticate": f'Bearer realm="{REALM}"'}
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return _bearer_failure(InvalidRequest("use Authorization: Bearer <access token>"))
    issuer = ctx.issuer(await _tenant(ctx, DEFAULT_TENANT))
    claims = await own_access_token_claims(ctx.keyring, DEFAULT_TENANT, issuer, token, time.time())
    if claims is None:
        return _bearer_failure(
            InvalidToken("the access token is invalid, expired, or not issued by this server's default tenant")
        )
    audience = claims.get("aud")
    if issuer not in (audience if isinstance(audience, list) else [audience]):
        return _bearer_failure(InvalidToken("the access token is meant for another audience"))
    if await ctx.storage.denylist.is_denied(DEFAULT_TENANT, str(claims["jti"])):
        return _bearer_failure(InvalidToken("the access token was revoked"))
    if ADMIN_SCOPE not in str(claims.get("scope", "")).split(" "):
        return _bearer_failure(InsufficientScope("the pixie:admin scope is required"), scope=ADMIN_SCOPE)
    parties = await token_parties(ctx.storage, DEFAULT_TENANT, str(claims.get("client_id", "")), token_user(claims))
    if parties is None:
        return _bearer_failure(InvalidToken("the client or user of this access token is disabled or gone"))
    user = parties[1]
    if user is not None and not holds_admin_role(user):
        return _bearer_failure(InvalidToken("the user of this access token is no longer an administrator"))
    return None


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, run ``handler``, and render its refusals as JSON."""

    async def endpoint(request: Request) -> Response:
        ctx = context_of(request)
        refusal = await _authorize(request, ctx)
        if refusal is not None:
            return refusal
        try:
            return await handler(request, ctx)
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        except InvalidRegistration as exc:
            return _error(400, "invalid_request", str(exc))
        except NotFound as exc:
            return _error(404, "not_found", str(exc))

    return endpoint


async def _body(request: Request, allowed: set[str], required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON object in the body, with only ``allowed`` keys and every ``required`` one."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        data = parse_json(await request.body())  # bounded size and depth: never a RecursionError (500)
    except InvalidRequest as exc:
        raise ApiError(exc.status, exc.error, exc.description) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(
            400, "invalid_request", f"unknown field(s) {', '.join(unknown)[:200]}; known: {', '.join(sorted(allowed))}"
        )
    missing = sorted(required - set(data))
    if missing:
        raise ApiError(400, "invalid_request", f"missing field(s): {', '.join(missing)}")
    return data


def _typed(data: Mapping[str, Any], name: str, kind: type, default: Any = None) -> Any:
    """``data[name]`` checked to be a ``kind`` (``null`` is refused: leave a field out to get its default)."""
    if name not in data:
        return default
    value = data[name]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ApiError(400, "invalid_request", f"{name} must be {_KINDS.get(kind, kind.__name__)}")
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise ApiError(400, "invalid_request", f"{name} must be a list of strings")
    return value


_KINDS = {str: "a string", int: "a whole number", bool: "true or false", list: "a list", dict: "an object"}


async def _tenant(ctx: AppContext, name: str) -> Tenant:
    tenant = await ctx.storage.tenants.get(name) if len(name) <= 63 else None
    if tenant is None:
        raise NotFound(f"no tenant named {name[:64]!r}")
    return tenant


def _base(ctx: AppContext) -> str:
    return ctx.settings.issuer


# --- tenants -------------------------------------------------------------------------------------------------------


async def list_tenants(request: Request, ctx: AppContext) -> Response:
    return json_response(
        {"tenants": [tenant_view(t, _base(ctx)) for t in await ctx.storage.tenants.list()]}, no_store=True
    )


async def create_tenant_endpoint(request: Request, ctx: AppContext) -> Response:
    data = await _body(request, {"name", "display_name", "settings"}, frozenset({"name"}))
    name = _typed(data, "name", str)
    changes = _typed(data, "settings", dict, {})
    try:
        settings = change_settings(TenantSettings(), changes)
    except ValueError as exc:
        raise InvalidRegistration(str(exc)) from None
    try:
        tenant = await create_tenant(
            ctx.storage, ctx.keyring, name, display_name=_typed(data, "display_name", str), settings=settings
        )
    except AlreadyExists:
        raise ApiError(409, "already_exists", f"tenant {name!r} already exists") from None
    ctx.tenants.invalidate(tenant.id)  # it may be cached as unknown
    return json_response(tenant_view(tenant, _base(ctx)), status=201, no_store=True)


async def get_tenant(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    return json_response(tenant_view(tenant, _base(ctx)), no_store=True)


_SETTING_FIELDS = {*SETTING_LIMITS, "allowed_grant_types", "login_title", "brand_color"}


async def update_settings(request: Request, ctx: AppContext) -> Response:
    name = request.path_params["tenant"]
    await _tenant(ctx, name)
    changes = await _body(request, _SETTING_FIELDS)
    tenant = await apply_settings(ctx.storage, name, changes)
    ctx.tenants.invalidate(name)
    return json_response(tenant_view(tenant, _base(ctx)), no_store=True)


def _tenant_switch(disabled: bool) -> Handler:
    async def switch(request: Request, ctx: AppContext) -> Response:
        name = request.path_params["tenant"]
        tenant = await set_tenant_disabled(ctx.storage, name, disabled)
        ctx.tenants.invalidate(name)  # at once here; other instances within the resolver's TTL
        return json_response(tenant_view(tenant, _base(ctx)), no_store=True)

    return switch


# --- clients -------------------------------------------------------------------------------------------------------


_CLIENT_LIFETIMES = {"refresh_grace_seconds", "access_token_ttl", "refresh_idle_ttl", "refresh_absolute_ttl"}
_CLIENT_OIDC = {"post_logout_redirect_uris", "id_token_signed_response_alg"}
_CLIENT_SENDER = {"dpop_bound_access_tokens", "require_pushed_authorization_requests"}
_CLIENT_FIELDS = {
    "client_id",
    "public",
    "redirect_uris",
    "grant_types",
    "scope",
    "audiences",
    *_CLIENT_LIFETIMES,
    *_CLIENT_OIDC,
    *_CLIENT_SENDER,
}


async def list_clients(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    clients = await ctx.storage.clients.list(tenant.id)
    return json_response({"clients": [client_view(c) for c in clients]}, no_store=True)


async def create_client_endpoint(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    data = await _body(request, _CLIENT_FIELDS, frozenset({"client_id", "public"}))
    client_id = _typed(data, "client_id", str)
    id_token_alg = _typed(data, "id_token_signed_response_alg", str)
    if id_token_alg in ID_TOKEN_ALGS and id_token_alg != tenant.settings.signing_alg:
        await ctx.keyring.ensure(tenant.id, id_token_alg)  # published now, well before its first ID token
    try:
        created = await register_client(
            ctx.storage,
            tenant.id,
            client_id,
            redirect_uris=_typed(data, "redirect_uris", list, []),
            public=_typed(data, "public", bool),
            grant_types=_typed(data, "grant_types", list, ["authorization_code", "refresh_token"]),
            scopes=str(_typed(data, "scope", str, "")).split(),
            audiences=_typed(data, "audiences", list, []),
            refresh_grace_seconds=_typed(data, "refresh_grace_seconds", int),
            access_token_ttl=_typed(data, "access_token_ttl", int),
            refresh_idle_ttl=_typed(data, "refresh_idle_ttl", int),
            refresh_absolute_ttl=_typed(data, "refresh_absolute_ttl", int),
            post_logout_redirect_uris=_typed(data, "post_logout_redirect_uris", list, []),
            id_token_signed_response_alg=id_token_alg,
            dpop_bound_access_tokens=_typed(data, "dpop_bound_access_tokens", bool, False),
            require_pushed_authorization_requests=_typed(data, "require_pushed_authorization_requests", bool, False),
        )
    except AlreadyExists:
        raise ApiError(409, "already_exists", f"client {client_id!r} already exists in tenant {tenant.id!r}") from None
    body = client_view(created.client)
    if created.secret is not None:
        body["client_secret"] = created.secret  # shown once: only its SHA-256 is stored
    return json_response(body, status=201, no_store=True)


async def _client(ctx: AppContext, request: Request) -> Client:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    client_id = request.path_params["client_id"]
    client = await ctx.storage.clients.get(tenant.id, client_id)
    if client is None:
        raise NotFound(f"no client {client_id[:64]!r} in tenant {tenant.id!r}")
    return client


async def get_client(request: Request, ctx: AppContext) -> Response:
    return json_response(client_view(await _client(ctx, request)), no_store=True)


def _client_switch(disabled: bool) -> Handler:
    async def switch(request: Request, ctx: AppContext) -> Response:
        client = await _client(ctx, request)
        # Through the app's cached client store: the cached entry is dropped, so this process applies it at once.
        # Disabling also ends the client's access (pixie.accounts).
        await set_client_disabled(ctx.storage, client.tenant_id, client.client_id, disabled)
        return json_response(client_view(await _client(ctx, request)), no_store=True)

    return switch


# --- users ---------------------------------------------------------------------------------------------------------


def user_view(user: User) -> dict[str, Any]:
    """A user as the API shows it: never the password hash."""
    return {
        "tenant": user.tenant_id,
        "username": user.username,
        "sub": user.user_id,
        "roles": list(user.roles),
        "disabled": user.disabled,
        "created_at": user.created_at,
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
        "email_verified": user.email_verified,
    }


_PROFILE_FIELDS = {"name", "given_name", "family_name", "email", "email_verified"}


def _profile(data: Mapping[str, Any]) -> Profile:
    """The profile fields of a request body (OpenID Connect Core §5.1 claims); absent ones stay None."""
    return Profile(
        name=_typed(data, "name", str),
        given_name=_typed(data, "given_name", str),
        family_name=_typed(data, "family_name", str),
        email=_typed(data, "email", str),
        email_verified=_typed(data, "email_verified", bool),
    )


async def list_users(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    return json_response({"users": [user_view(u) for u in await ctx.storage.users.list(tenant.id)]}, no_store=True)


async def create_user_endpoint(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    allowed = {"username", "password", "roles", *_PROFILE_FIELDS}
    data = await _body(request, allowed, frozenset({"username", "password"}))
    username = _typed(data, "username", str)
    try:
        user = await create_user(
            ctx.storage,
            tenant.id,
            username,
            _typed(data, "password", str),
            roles=_typed(data, "roles", list, []),
            profile=_profile(data),
        )
    except AlreadyExists:
        raise ApiError(409, "already_exists", f"user {username!r} already exists in tenant {tenant.id!r}") from None
    return json_response(user_view(user), status=201, no_store=True)


async def update_user_endpoint(request: Request, ctx: AppContext) -> Response:
    """Change a user's profile claims; fields left out stay, an empty string clears one."""
    tenant = await _tenant(ctx, request.path_params["tenant"])
    data = await _body(request, _PROFILE_FIELDS)
    user = await update_user_profile(ctx.storage, tenant.id, request.path_params["username"], _profile(data))
    return json_response(user_view(user), no_store=True)


def _user_switch(disabled: bool) -> Handler:
    async def switch(request: Request, ctx: AppContext) -> Response:
        tenant = await _tenant(ctx, request.path_params["tenant"])
        changed = await set_user_disabled(ctx.storage, tenant.id, request.path_params["username"], disabled)
        return json_response(user_view(changed.record), no_store=True)

    return switch


# --- protected resources (RFC 8707) ----------------------------------------------------------------------------------


class _AnyText(Convertor[str]):
    """The rest of the path, slashes and line breaks included: a resource identifier is a URI, sent
    percent-encoded and decoded by the server before routing (Starlette's ``path`` stops at a line break, which
    would leave such a request to the plain-text 404 of no route)."""

    regex = "[\\s\\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("pixie_any", _AnyText())

_RESOURCE_FIELDS = {"name", "scope", "access_token_ttl"}


async def list_resources(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    found = await ctx.storage.resources.list(tenant.id)
    return json_response({"resources": [resource_view(r) for r in found]}, no_store=True)


async def create_resource_endpoint(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    data = await _body(request, {"resource", *_RESOURCE_FIELDS}, frozenset({"resource"}))
    identifier = _typed(data, "resource", str)
    try:
        resource = await create_resource(
            ctx.storage,
            tenant.id,
            identifier,
            name=_typed(data, "name", str, ""),
            scopes=str(_typed(data, "scope", str, "")).split(),
            access_token_ttl=_typed(data, "access_token_ttl", int),
        )
    except AlreadyExists as exc:
        raise ApiError(409, "already_exists", str(exc)) from None
    return json_response(resource_view(resource), status=201, no_store=True)


async def get_resource(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    resource = await find_resource(ctx.storage, tenant.id, request.path_params["resource"])
    return json_response(resource_view(resource), no_store=True)


async def update_resource_endpoint(request: Request, ctx: AppContext) -> Response:
    """Fields left out stay; ``access_token_ttl: null`` goes back to the client's or tenant's lifetime."""
    tenant = await _tenant(ctx, request.path_params["tenant"])
    data = await _body(request, _RESOURCE_FIELDS)
    clear_ttl = "access_token_ttl" in data and data["access_token_ttl"] is None
    scope = _typed(data, "scope", str)
    changes = ResourceChanges(
        name=_typed(data, "name", str),
        scopes=None if scope is None else tuple(scope.split()),
        access_token_ttl=None if clear_ttl else _typed(data, "access_token_ttl", int),
        clear_access_token_ttl=clear_ttl,
    )
    resource = await update_resource(ctx.storage, tenant.id, request.path_params["resource"], changes)
    return json_response(resource_view(resource), no_store=True)


async def delete_resource_endpoint(request: Request, ctx: AppContext) -> Response:
    tenant = await _tenant(ctx, request.path_params["tenant"])
    identifier = request.path_params["resource"]
    await delete_resource(ctx.storage, tenant.id, identifier)
    return json_response({"tenant": tenant.id, "resource": identifier, "deleted": True}, no_store=True)


def admin_api_routes() -> list[BaseRoute]:
    """The admin API's routes (mounted on the default tenant only)."""
    table: list[tuple[str, str, Handler]] = [
        ("/tenants", "GET", list_tenants),
        ("/tenants", "POST", create_tenant_endpoint),
        ("/tenants/{tenant}", "GET", get_tenant),
        ("/tenants/{tenant}/settings", "PATCH", update_settings),
        ("/tenants/{tenant}/disable", "POST", _tenant_switch(True)),
        ("/tenants/{tenant}/enable", "POST", _tenant_switch(False)),
        ("/tenants/{tenant}/clients", "GET", list_clients),
        ("/tenants/{tenant}/clients", "POST", create_client_endpoint),
        ("/tenants/{tenant}/clients/{client_id}", "GET", get_client),
        ("/tenants/{tenant}/clients/{client_id}/disable", "POST", _client_switch(True)),
        ("/tenants/{tenant}/clients/{client_id}/enable", "POST", _client_switch(False)),
        ("/tenants/{tenant}/users", "GET", list_users),
        ("/tenants/{tenant}/users", "POST", create_user_endpoint),
        ("/tenants/{tenant}/users/{username}", "PATCH", update_user_endpoint),
        ("/tenants/{tenant}/users/{username}/disable", "POST", _user_switch(True)),
        ("/tenants/{tenant}/users/{username}/enable", "POST", _user_switch(False)),
        ("/tenants/{tenant}/resources", "GET", list_resources),
        ("/tenants/{tenant}/resources", "POST", create_resource_endpoint),
        # The identifier is a URI: percent-encoded in the path, and matched with its slashes once decoded.
        ("/tenants/{tenant}/resources/{resource:pixie_any}", "GET", get_resource),
        ("/tenants/{tenant}/resources/{resource:pixie_any}", "PATCH", update_resource_endpoint),
        ("/tenants/{tenant}/resources/{resource:pixie_any}", "DELETE", delete_resource_endpoint),
    ]
    by_path: dict[str, dict[str, Handler]] = {}
    for path, method, handler in table:
        by_path.setdefault(PREFIX + path, {})[method] = handler
    return [Endpoint(path, _dispatch(methods), methods=list(methods)) for path, methods in by_path.items()]


async def _method_not_allowed(request: Request) -> Response:
    return _error(405, "invalid_request", "method not allowed")


def _dispatch(methods: Mapping[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
    endpoints = {method: _endpoint(handler) for method, handler in methods.items()}

    async def dispatch(request: Request) -> Response:
        # Starlette answers HEAD on GET routes: run the GET handler (the server drops the body).
        return await endpoints.get(request.method, endpoints.get("GET", _method_not_allowed))(request)

    return dispatch
