"""``/consent``: show the requested scopes in plain words, and the protected resources (APIs) they are for; remember
an approval per user, client, scopes and resources."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import AccessDenied, InvalidRequest
from pixie.events import ConsentDenied, ConsentGranted
from pixie.scopes import describe
from pixie.server.context import AppContext, tenant_of
from pixie.server.cookies import csrf_cookie_name, read_cookie
from pixie.server.flow import (
    SignedIn,
    UnreadableForm,
    check_csrf,
    current_user,
    finish_with_code,
    read_page_form,
    redirect_error,
    scopes_for,
)
from pixie.server.protocol.resource_indicators import consented_items
from pixie.storage.records import AuthorizationRequest, Tenant

__all__ = ["consent"]

_EXPIRED = InvalidRequest("this sign-in request is unknown or has expired; return to the application and try again")


async def _load(
    request: Request, ctx: AppContext, tenant: Tenant, request_id: str, now: float
) -> tuple[AuthorizationRequest, SignedIn] | None:
    """The pending request and the signed-in user it belongs to; None unless both match."""
    if not request_id or len(request_id) > 64:
        return None
    pending = await ctx.storage.requests.get(tenant.id, request_id, now)
    if pending is None or pending.user_id is None:
        return None
    signed_in = await current_user(request, ctx, tenant, now)
    if signed_in is None or signed_in.user.user_id != pending.user_id:
        return None
    return pending, signed_in


async def consent(request: Request) -> Response:
    ctx, tenant = await tenant_of(request)
    now = time.time()
    if request.method == "GET":
        loaded = await _load(request, ctx, tenant, request.query_params.get("request", ""), now)
        if loaded is None:
            return ctx.error_page(_EXPIRED, tenant)
        pending, signed_in = loaded
        csrf = read_cookie(request, csrf_cookie_name(tenant, ctx.issuer(tenant), pending.request_id)) or ""
        if not check_csrf(request, ctx, tenant, pending, csrf):
            return ctx.error_page(_EXPIRED, tenant)
        client_name, client_logo = await ctx.client_face(tenant, pending.client_id)
        named = await ctx.storage.resources.get_many(tenant.id, pending.resources)
        return ctx.page(
            "consent.html",
            tenant,
            redirect_uri=pending.redirect_uri,
            image=client_logo,
            title="Allow access?",
            client_name=client_name,
            client_logo=client_logo,
            scopes=[{"name": s, "description": describe(s)} for s in scopes_for(tenant, pending, signed_in.user)],
            resources=[{"name": r.name or r.identifier, "identifier": r.identifier} for r in named],
            username=signed_in.user.username,
            action=ctx.path(tenant, "/consent"),
            request_id=pending.request_id,
            csrf_token=csrf,
        )

    try:
        form = await read_page_form(request)
    except UnreadableForm as exc:
        return ctx.error_page(exc, tenant)
    loaded = await _load(request, ctx, tenant, str(form.get("request", "")), now)
    if loaded is None:
        return ctx.error_page(_EXPIRED, tenant)
    pending, signed_in = loaded
    if not check_csrf(request, ctx, tenant, pending, str(form.get("csrf_token", ""))):
        return ctx.error_page(InvalidRequest("the form could not be verified (CSRF check failed)"), tenant, status=403)
    decision = form.get("decision")
    if decision == "approve":
        ctx.events.emit(
            ConsentGranted(tenant_id=tenant.id, client_id=pending.client_id, correlation_id=pending.correlation_id)
        )
        granted = scopes_for(tenant, pending, signed_in.user)
        items = consented_items(granted, pending.resources)  # the resources too (RFC 8707)
        await ctx.storage.consents.grant(tenant.id, signed_in.user.user_id, pending.client_id, items, now)
        return await finish_with_code(
            request,
            ctx,
            tenant,
            pending,
            signed_in.user,
            pending.auth_time or signed_in.session.auth_time,
            now,
            session=signed_in.session,
        )
    if decision == "deny":
        if not await ctx.storage.requests.delete(tenant.id, pending.request_id):
            return ctx.error_page(_EXPIRED, tenant)
        ctx.events.emit(
            ConsentDenied(
                tenant_id=tenant.id,
                client_id=pending.client_id,
                correlation_id=pending.correlation_id,
                error="access_denied",
            )
        )
        return redirect_error(ctx, tenant, pending, AccessDenied("the user denied the request"))
    return ctx.error_page(InvalidRequest("decision must be approve or deny"), tenant)
