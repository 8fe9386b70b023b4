"""``/login`` (GET form, POST credentials) and ``POST /logout``.

The password is checked with Argon2id in a worker thread, so one login never stalls the event loop. Every failure
shows the same message, and an unknown username costs the same time as a wrong password (no user enumeration).

Failed sign-ins are limited as :mod:`pixie.server.ratelimit` describes; a browser that signs in successfully gets a
device cookie (:mod:`pixie.server.device_cookies`), so that later failures from elsewhere never lock it out.

Spec: RFC 9700 §4.16; OWASP Authentication Cheat Sheet ("Slow Down Online Guessing Attacks with Device Cookies").
"""

from __future__ import annotations

import math
import time

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import InvalidRequest
from pixie.events import LoginFailed, LoginSucceeded, RateLimited
from pixie.passwords import dummy_verify, verify_password
from pixie.server.context import AppContext, tenant_of
from pixie.server.cookies import clear_cookie, csrf_cookie_name, read_cookie, session_cookie_name
from pixie.server.device_cookies import DeviceCookies
from pixie.server.flow import (
    SignedIn,
    UnreadableForm,
    attach_session_cookie,
    check_csrf,
    current_user,
    end_session_of,
    finish_with_code,
    interaction_redirect,
    next_step,
    read_page_form,
    redirect_error,
    start_session,
)
from pixie.server.origins import from_issuer_origin
from pixie.server.ratelimit import SignInAttempt
from pixie.storage.records import AuthorizationRequest, Tenant, User

__all__ = ["login", "logout"]

GENERIC_FAILURE = "Invalid username or password."
_EXPIRED = InvalidRequest("this sign-in request is unknown or has expired; return to the application and try again")


async def _pending(ctx: AppContext, tenant: Tenant, request_id: str | None, now: float) -> AuthorizationRequest | None:
    if not request_id or len(request_id) > 64:
        return None
    return await ctx.storage.requests.get(tenant.id, request_id, now)


async def _login_page(
    ctx: AppContext,
    tenant: Tenant,
    pending: AuthorizationRequest,
    csrf: str,
    *,
    error: str | None,
    username: str = "",
    status: int = 200,
) -> Response:
    client_name, client_logo = await ctx.client_face(tenant, pending.client_id)
    return ctx.page(
        "login.html",
        tenant,
        status=status,
        redirect_uri=pending.redirect_uri,
        image=client_logo,
        title=tenant.settings.login_title,
        client_name=client_name,
        client_logo=client_logo,
        action=ctx.path(tenant, "/login"),
        request_id=pending.request_id,
        csrf_token=csrf,
        error=error,
        username=username,
    )


async def login(request: Request) -> Response:
    ctx, tenant = await tenant_of(request)
    now = time.time()
    if request.method == "GET":
        pending = await _pending(ctx, tenant, request.query_params.get("request"), now)
        if pending is None:
            return ctx.error_page(_EXPIRED, tenant)
        csrf = read_cookie(request, csrf_cookie_name(tenant, ctx.issuer(tenant), pending.request_id)) or ""
        if not check_csrf(request, ctx, tenant, pending, csrf):
            return ctx.error_page(_EXPIRED, tenant)
        return await _login_page(ctx, tenant, pending, csrf, error=None, username=pending.login_hint or "")

    try:
        form = await read_page_form(request)
    except UnreadableForm as exc:
        return ctx.error_page(exc, tenant)
    request_id = str(form.get("request", ""))
    csrf = str(form.get("csrf_token", ""))
    username = str(form.get("username", ""))[:255]
    password = str(form.get("password", ""))[:1024]
    pending = await _pending(ctx, tenant, request_id, now)
    if pending is None:
        return ctx.error_page(_EXPIRED, tenant)
    if not check_csrf(request, ctx, tenant, pending, csrf):
        return ctx.error_page(InvalidRequest("the form could not be verified (CSRF check failed)"), tenant, status=403)
    ip = request.client.host if request.client else None
    issuer = ctx.issuer(tenant)
    devices = DeviceCookies(ctx.settings.master_key)
    # Looked up before the limits, for every attempt alike: which limits apply depends on whether this browser holds
    # the user's device cookie, and an unknown username costs the same read and, below, the same password check.
    account = await ctx.storage.users.get_by_username(tenant.id, username.strip()) if username else None
    device = devices.recognise(request, tenant, issuer, account, now) if account is not None else None
    attempt = SignInAttempt(tenant_id=tenant.id, username=username, ip=ip, device=device)
    wait = await ctx.limiter.login_blocked(attempt)
    if wait is not None:
        # The same answer for every username, existing or not: the limits must not reveal accounts.
        ctx.events.emit(
            RateLimited(
                tenant_id=tenant.id, client_id=pending.client_id, correlation_id=pending.correlation_id, error="login"
            )
        )
        refusal = _too_many_attempts(wait)
        response = await _login_page(ctx, tenant, pending, csrf, error=refusal, username=username, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await _check_password(ctx, account, password)
    if user is None:
        await ctx.limiter.login_failed(attempt)
        ctx.events.emit(
            LoginFailed(
                tenant_id=tenant.id,
                client_id=pending.client_id,
                correlation_id=pending.correlation_id,
                error="invalid_credentials",
            )
        )
        return await _login_page(ctx, tenant, pending, csrf, error=GENERIC_FAILURE, username=username)

    await ctx.limiter.login_succeeded(attempt)
    ctx.events.emit(
        LoginSucceeded(tenant_id=tenant.id, client_id=pending.client_id, correlation_id=pending.correlation_id)
    )
    session, cookie_value = await start_session(ctx, tenant, user, now)
    await ctx.storage.requests.set_user(tenant.id, pending.request_id, user.user_id, session.auth_time)
    step = await next_step(ctx, tenant, pending, SignedIn(session, user), now, just_logged_in=True)
    if step == "code":
        response = await finish_with_code(request, ctx, tenant, pending, user, session.auth_time, now, session=session)
    elif isinstance(step, str):
        response = interaction_redirect(ctx, tenant, step, pending)
    else:
        await ctx.storage.requests.delete(tenant.id, pending.request_id)
        response = redirect_error(ctx, tenant, pending, step)
    attach_session_cookie(response, ctx, tenant, cookie_value, session)
    devices.attach(response, tenant, issuer, user, now)
    return response


def _too_many_attempts(wait: int) -> str:
    """What the login page says when the limits refuse a try: how long to wait, nothing about the account."""
    if wait < 90:
        return f"Too many sign-in attempts. Try again in {wait} second{'s' if wait != 1 else ''}."
    return f"Too many sign-in attempts. Try again in {math.ceil(wait / 60)} minutes."


async def _check_password(ctx: AppContext, user: User | None, password: str) -> User | None:
    """``user`` when ``password`` is theirs and the account is enabled. An unknown or disabled account verifies a
    dummy hash instead, so every failure costs one Argon2id verification (no enumeration by timing)."""
    if user is None or user.disabled:
        await to_thread.run_sync(dummy_verify, password, limiter=ctx.password_checks)
        return None
    if not await to_thread.run_sync(verify_password, user.password_hash, password, limiter=ctx.password_checks):
        return None
    return user


async def logout(request: Request) -> Response:
    """End this browser's SSO session and the refresh-token families signed in through it. Refused unless the
    request comes from this server's own origin (no forced logout from another site or another port of this host):
    see :mod:`pixie.server.origins`.

    Spec: RFC 9700 §4.7 (CSRF), RFC 6454 §5 and §7."""
    ctx, tenant = await tenant_of(request)
    issuer = ctx.issuer(tenant)
    if not from_issuer_origin(request, issuer):
        return ctx.error_page(InvalidRequest("logout must be requested from this site"), tenant, status=403)
    name = session_cookie_name(tenant, issuer)
    value = read_cookie(request, name)
    now = time.time()
    signed_in: SignedIn | None = await current_user(request, ctx, tenant, now)
    if value and signed_in is not None:
        await end_session_of(ctx, tenant, signed_in.session, now)
    response = ctx.page(
        "message.html",
        tenant,
        title="Signed out",
        message="You are signed out.",
        links=[(ctx.path(tenant, "/"), "Back to the start page")],
    )
    clear_cookie(response, name=name, issuer=issuer)
    return response
