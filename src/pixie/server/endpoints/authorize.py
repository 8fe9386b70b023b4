"""``GET /authorize``: validate everything, then send the browser to login, consent, or straight back with a code.

Each address may send ``authorize_per_ip`` requests, and leave ``authorize_pending_per_ip`` of them pending (stored
for login or consent), whatever the tenant (:mod:`pixie.server.ratelimit`): an anonymous flood cannot fill the
database. Past either limit the answer is 429 with ``Retry-After`` on our error page.

Spec: RFC 6749 §4.1.1–§4.1.2, RFC 7636 §4.3–§4.4, RFC 9207, RFC 9700 §2.1 and §4.1, OAuth 2.1 §4.1.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import InvalidRequest, TooManyRequests
from pixie.events import AuthorizationRequested, RateLimited
from pixie.security import new_token
from pixie.server.context import AppContext, tenant_of
from pixie.server.flow import (
    attach_csrf_cookie,
    current_user,
    finish_with_code,
    interaction_redirect,
    next_step,
    redirect_to_client,
)
from pixie.server.grants.authorization_code import (
    RedirectableError,
    UntrustedRequest,
    new_pending_request,
    validate_authorization_request,
)
from pixie.server.protocol.pushed_requests import pushed_parameters
from pixie.storage.records import Tenant

__all__ = ["authorize", "query_pairs"]


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The query's parameters, decoded strictly: a query that is not ASCII, or whose escapes are not UTF-8, is
    refused rather than patched with U+FFFD — ``state`` must come back exactly as sent, and a request we cannot
    read exactly cannot be trusted with a redirect.

    Spec: RFC 6749 §4.1.2 (``state``: "the exact value received"), Appendix B (UTF-8); RFC 3986 §2.1.
    """
    try:
        return parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise UntrustedRequest(InvalidRequest("the query string is not valid UTF-8 percent-encoding")) from None


async def authorize(request: Request) -> Response:
    ctx, tenant = await tenant_of(request)
    now = time.time()
    ip = request.client.host if request.client else None
    wait = await ctx.limiter.authorize_from_ip(ip)
    if wait is not None:
        return _too_many(ctx, tenant, wait, "authorize_ip", _TOO_MANY_REQUESTS)
    try:
        pairs = query_pairs(request.scope["query_string"])
        pushed = await pushed_parameters(pairs, tenant_id=tenant.id, store=ctx.storage.pushed, now=now)
        validated = await validate_authorization_request(
            pushed if pushed is not None else pairs,
            tenant=tenant,
            clients=ctx.storage.clients,
            resources=ctx.storage.resources,
        )
        if pushed is None and (
            tenant.settings.require_pushed_authorization_requests
            or validated.client.require_pushed_authorization_requests
        ):
            error = InvalidRequest("authorization requests must be pushed first (PAR, RFC 9126)")
            raise RedirectableError(error, validated.redirect_uri, validated.state, validated.response_mode)
    except UntrustedRequest as exc:
        ctx.events.emit(
            AuthorizationRequested(
                tenant_id=tenant.id, outcome="failure", error=exc.error.error, reason=exc.error.description
            )
        )
        return ctx.error_page(exc.error, tenant)
    except RedirectableError as exc:
        client_id = request.query_params.get("client_id")
        ctx.events.emit(
            AuthorizationRequested(
                tenant_id=tenant.id,
                client_id=client_id,
                outcome="failure",
                error=exc.error.error,
                reason=exc.error.description,
            )
        )
        params = exc.error.redirect_params(state=exc.state, iss=ctx.issuer(tenant))
        return redirect_to_client(ctx, tenant, exc.redirect_uri, params, response_mode=exc.response_mode)

    csrf_token = new_token(32)
    pending = new_pending_request(validated, tenant=tenant, csrf_token=csrf_token, now=now)
    ctx.events.emit(
        AuthorizationRequested(
            tenant_id=tenant.id, client_id=pending.client_id, correlation_id=pending.correlation_id, at=now
        )
    )
    signed_in = await current_user(request, ctx, tenant, now, client_id=pending.client_id)
    step = await next_step(ctx, tenant, pending, signed_in, now)
    if step == "code":
        assert signed_in is not None
        if now - signed_in.session.last_seen_at >= _touch_interval(signed_in.session.idle_ttl):
            await ctx.storage.sessions.touch(tenant.id, signed_in.session.session_hash, now)
        return await finish_with_code(
            request,
            ctx,
            tenant,
            pending,
            signed_in.user,
            signed_in.session.auth_time,
            now,
            session=signed_in.session,
            stored=False,
        )
    if not isinstance(step, str):
        params = step.redirect_params(state=pending.state, iss=ctx.issuer(tenant))
        return redirect_to_client(ctx, tenant, pending.redirect_uri, params, response_mode=pending.response_mode)
    wait = await ctx.limiter.authorize_pending_from_ip(ip)
    if wait is not None:
        return _too_many(ctx, tenant, wait, "authorize_pending", _TOO_MANY_PENDING, client_id=pending.client_id)
    await ctx.storage.requests.create(pending)
    if step == "consent" and signed_in is not None:
        await ctx.storage.requests.set_user(
            tenant.id, pending.request_id, signed_in.user.user_id, signed_in.session.auth_time
        )
    response = interaction_redirect(ctx, tenant, step, pending)
    attach_csrf_cookie(response, ctx, tenant, pending, csrf_token)
    return response


_TOO_MANY_REQUESTS = "too many authorization requests from this address; wait, then try again"
_TOO_MANY_PENDING = "too many unfinished sign-ins from this address; finish or wait for them, then try again"


def _too_many(
    ctx: AppContext, tenant: Tenant, wait: int, limit: str, description: str, *, client_id: str | None = None
) -> Response:
    """429 with ``Retry-After`` on our own error page: never a redirect, since the request may not even have been
    validated yet, and a client that is sent an error cannot tell its user to wait.

    Spec: RFC 6585 §4, RFC 9110 §10.2.3; RFC 6749 §4.1.2.1 (no redirect to an unverified URI).
    """
    ctx.events.emit(RateLimited(tenant_id=tenant.id, client_id=client_id, error=limit))
    response = ctx.error_page(TooManyRequests(wait, description), tenant, status=429)
    response.headers["Retry-After"] = str(wait)
    response.headers["Cache-Control"] = "no-store"
    return response


def _touch_interval(idle_ttl: float) -> float:
    """How stale a session's ``last_seen_at`` may be before a silent sign-in records it again.

    Recording every use was one database write per SSO authorization, for a value that only moves an idle deadline
    of hours. It is now written at most once a minute (a tenth of the idle time when that is shorter), so a session
    in use never idles out, and one left alone expires its idle time after the last *recorded* use: at most a minute
    earlier than after the last use.
    """
    return min(_TOUCH_AT_MOST_EVERY_SECONDS, idle_ttl / 10)


_TOUCH_AT_MOST_EVERY_SECONDS = 60.0
