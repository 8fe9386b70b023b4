"""``/admin``: the flow-analytics dashboard, for administrators who sign in through Pixie (see
:mod:`pixie.server.admin_session`).

- ``GET /admin`` — the dashboard (or the start of the sign-in flow); ``?range=1h|24h|7d&tenant=..&client=..``.
- ``GET /admin/callback`` — the redirect URI of the dashboard's own client.
- ``GET /admin/charts/{name}.svg`` — one chart, same query parameters.
- ``POST /admin/logout`` — ends the dashboard session (the SSO session stays); only from this server's own origin
  (:mod:`pixie.server.origins`).

The session is server-side and checked on every request (:func:`pixie.server.admin_session.signed_in_admin`); its
cookie, like the flow's, is HttpOnly, SameSite=Lax, and ``__Host-`` prefixed and Secure on an https issuer.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pixie import pkce
from pixie.analytics import RANGES, Summary, range_window, summarize
from pixie.errors import AccessDenied, InvalidRequest, OAuthError
from pixie.security import constant_time_equals
from pixie.server.admin_session import (
    ADMIN_CLIENT_ID,
    ADMIN_SCOPE,
    FLOW_SECONDS,
    SESSION_SECONDS,
    SessionSealer,
    end_admin_session,
    new_flow_state,
    signed_in_admin,
    start_admin_session,
)
from pixie.server.charts import CHART_NAMES, dashboard_charts, render_chart
from pixie.server.context import AppContext, context_of
from pixie.server.cookies import admin_cookie_name, clear_cookie, read_cookie, set_cookie
from pixie.server.grants.authorization_code import exchange_code
from pixie.server.origins import from_issuer_origin
from pixie.storage.records import Tenant, User
from pixie.tenancy import DEFAULT_TENANT
from pixie.tokens.validation import own_access_token_claims

__all__ = ["admin_callback", "admin_chart", "admin_logout", "dashboard"]

log = logging.getLogger("pixie.server.admin")

FLOW_COOKIE = "pixie-admin-flow"
SESSION_COOKIE = "pixie-admin"
_CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _sealer(ctx: AppContext) -> SessionSealer:
    return SessionSealer(ctx.settings.master_key)


async def _default_tenant(ctx: AppContext) -> Tenant:
    tenant = await ctx.tenants.resolve(DEFAULT_TENANT)
    assert tenant is not None, "the default tenant is created at start-up"
    return tenant


def _session_cookie(ctx: AppContext) -> str:
    return admin_cookie_name(SESSION_COOKIE, ctx.settings.issuer)


def _flow_cookie(ctx: AppContext) -> str:
    return admin_cookie_name(FLOW_COOKIE, ctx.settings.issuer)


async def _signed_in(request: Request, ctx: AppContext) -> User | None:
    """The administrator signed in to the dashboard in this browser, checked against storage on every request."""
    return await signed_in_admin(ctx.storage, read_cookie(request, _session_cookie(ctx)), time.time())


async def _start_sign_in(ctx: AppContext, tenant: Tenant, view: str = "") -> Response:
    issuer = ctx.issuer(tenant)
    client = await ctx.storage.clients.get(tenant.id, ADMIN_CLIENT_ID)
    if client is not None and f"{issuer}/admin/callback" not in client.redirect_uris:
        # Matched exactly, like every registered redirect URI: a database first opened under another issuer
        # (another port included) keeps the old callback, and /authorize refuses the sign-in on its error page.
        log.warning(
            "the dashboard client %s is registered with %s, not %s/admin/callback: /admin cannot sign anyone in",
            ADMIN_CLIENT_ID,
            ", ".join(client.redirect_uris),
            issuer,
        )
    flow = new_flow_state(time.time(), view)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": ADMIN_CLIENT_ID,
            "redirect_uri": f"{issuer}/admin/callback",
            "scope": ADMIN_SCOPE,
            "state": flow.state,
            "code_challenge": pkce.create_challenge(flow.verifier),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{issuer}/authorize?{query}", status_code=303)
    set_cookie(
        response, name=_flow_cookie(ctx), value=_sealer(ctx).seal_flow(flow), max_age=FLOW_SECONDS, issuer=issuer
    )
    return response


async def admin_callback(request: Request) -> Response:
    """Finish the dashboard's own sign-in: state and ``iss`` checked, the code redeemed with the verifier, and the
    token's scope must include ``pixie:admin``.

    Spec: RFC 6749 §4.1.2 and §10.12, RFC 7636 §4.5, RFC 9207 §2.4.
    """
    ctx = context_of(request)
    tenant = await _default_tenant(ctx)
    issuer, now = ctx.issuer(tenant), time.time()
    flow = _sealer(ctx).open_flow(read_cookie(request, _flow_cookie(ctx)), now)
    params = request.query_params
    if flow is None or not constant_time_equals(params.get("state", ""), flow.state):
        return ctx.error_page(InvalidRequest("this dashboard sign-in is unknown or has expired; start again"), tenant)
    if params.get("iss") != issuer:
        return ctx.error_page(InvalidRequest("the authorization response did not come from this server"), tenant)
    if "error" in params:
        refusal = AccessDenied("the sign-in was refused or cancelled")
        return ctx.error_page(refusal, tenant, status=403)
    client = await ctx.storage.clients.get(tenant.id, ADMIN_CLIENT_ID)
    if client is None:
        return ctx.error_page(InvalidRequest("the dashboard client is not registered"), tenant)
    form = {
        "grant_type": "authorization_code",
        "code": params.get("code", ""),
        "code_verifier": flow.verifier,
        "redirect_uri": f"{issuer}/admin/callback",
        "client_id": ADMIN_CLIENT_ID,
    }
    try:
        result = await exchange_code(
            form,
            client=client,
            tenant=tenant,
            issuer=issuer,
            storage=ctx.storage,
            codes=ctx.code_sealer,
            tokens=ctx.tokens,
            events=ctx.events,
            now=now,
        )
    except OAuthError as exc:
        return ctx.error_page(exc, tenant)
    claims = await _claims(ctx, tenant, str(result["access_token"]), now)
    response: Response
    if claims is None or ADMIN_SCOPE not in str(claims.get("scope", "")).split():
        response = ctx.page(
            "message.html",
            tenant,
            status=403,
            title="Administrators only",
            message="You are signed in, but this account is not an administrator of this Pixie server.",
        )
    else:
        response = RedirectResponse("/admin" + (f"?{flow.view}" if flow.view else ""), status_code=303)
        session_id = await start_admin_session(ctx.storage, str(claims["sub"]), now)
        set_cookie(response, name=_session_cookie(ctx), value=session_id, max_age=SESSION_SECONDS, issuer=issuer)
    clear_cookie(response, name=_flow_cookie(ctx), issuer=issuer)
    return response


async def _claims(ctx: AppContext, tenant: Tenant, token: str, now: float) -> dict[str, object] | None:
    return await own_access_token_claims(ctx.keyring, tenant.id, ctx.issuer(tenant), token, now)


def _requested_view(request: Request) -> str:
    """The dashboard's own parameters of this request, re-encoded (anything else is dropped): where a sign-in started
    from here comes back to."""
    params = request.query_params
    kept = {
        "range": params.get("range", "") if params.get("range") in RANGES else "",
        "tenant": params.get("tenant", "")[:64],
        "client": params.get("client", "")[:255],
    }
    return urlencode({name: value for name, value in kept.items() if value})


async def _selection(request: Request, ctx: AppContext) -> tuple[str, Tenant, str | None]:
    """The validated range, tenant and client the query asks for."""
    params = request.query_params
    range_name = params.get("range", "24h")
    if range_name not in RANGES:
        range_name = "24h"
    tenant = await ctx.tenants.resolve(params.get("tenant", DEFAULT_TENANT)[:64]) or await _default_tenant(ctx)
    client = params.get("client") or None
    return range_name, tenant, client[:255] if client else None


async def _summary(ctx: AppContext, range_name: str, tenant: Tenant, client: str | None) -> Summary:
    since, until, buckets = range_window(range_name, time.time())
    events = await ctx.storage.events.query(tenant.id, since, until)
    return summarize(events, since=since, until=until, buckets=buckets, client_id=client)


async def dashboard(request: Request) -> Response:
    ctx = context_of(request)
    if await _signed_in(request, ctx) is None:
        return await _start_sign_in(ctx, await _default_tenant(ctx), _requested_view(request))
    range_name, tenant, client = await _selection(request, ctx)
    summary = await _summary(ctx, range_name, tenant, client)  # one snapshot: the cards and every chart
    tenants = [t.id for t in await ctx.storage.tenants.list()]
    clients = [c.client_id for c in await ctx.storage.clients.list(tenant.id)]
    base_query = {"range": range_name, "tenant": tenant.id, **({"client": client} if client else {})}
    return ctx.page(
        "dashboard.html",
        await _default_tenant(ctx),
        title="Flow analytics",
        summary=summary,
        ranges=list(RANGES),
        range_name=range_name,
        tenants=tenants,
        tenant_id=tenant.id,
        clients=clients,
        client_id=client,
        charts=dashboard_charts(summary),
        chart_query=urlencode(base_query),
        range_links=[(name, "/admin?" + urlencode({**base_query, "range": name})) for name in RANGES],
    )


async def admin_chart(request: Request) -> Response:
    ctx = context_of(request)
    name = request.path_params["name"]
    if await _signed_in(request, ctx) is None:
        return Response("sign in at /admin first\n", 401, media_type="text/plain")
    if name not in CHART_NAMES:
        return Response("no such chart\n", 404, media_type="text/plain")
    range_name, tenant, client = await _selection(request, ctx)
    svg = render_chart(name, await _summary(ctx, range_name, tenant, client))
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": _CHART_POLICY},
    )


async def admin_logout(request: Request) -> Response:
    """End the dashboard session server-side and clear its cookie. Refused unless the request comes from this
    server's own origin (no forced logout from another site or another port of this host). The dashboard's form
    posts with ``Origin: null`` (every Pixie page has ``Referrer-Policy: no-referrer``) and is recognised by its
    ``Sec-Fetch-Site: same-origin``: see :mod:`pixie.server.origins`.

    Spec: RFC 9700 §4.7 (CSRF), RFC 6454 §5 and §7; OWASP Session Management Cheat Sheet (invalidate at logout).
    """
    ctx = context_of(request)
    tenant = await _default_tenant(ctx)
    issuer = ctx.issuer(tenant)
    if not from_issuer_origin(request, issuer):
        return ctx.error_page(InvalidRequest("sign-out must be requested from this site"), tenant, status=403)
    await end_admin_session(ctx.storage, read_cookie(request, _session_cookie(ctx)), time.time())
    response = ctx.page(
        "message.html",
        tenant,
        title="Signed out",
        message="You left the dashboard.",
        links=[("/admin", "Back to the dashboard")],
    )
    clear_cookie(response, name=_session_cookie(ctx), issuer=issuer)
    return response
