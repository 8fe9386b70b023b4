"""Steps of the browser flow shared by ``/authorize``, ``/login`` and ``/consent``: who is signed in, what the
request still needs (login, consent), and how it ends (a code, or an error, sent to the trusted redirect URI).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pixie.errors import AccessDenied, ConsentRequired, InvalidRequest, LoginRequired, OAuthError
from pixie.events import CodeIssued
from pixie.scopes import permitted
from pixie.security import constant_time_equals, hash_secret, new_token
from pixie.server.context import AppContext
from pixie.server.cookies import clear_cookie, csrf_cookie_name, read_cookie, session_cookie_name, set_cookie
from pixie.server.grants.authorization_code import issue_code
from pixie.server.protocol.openid import session_id
from pixie.server.protocol.redirect_uris import add_query
from pixie.server.protocol.resource_indicators import consented_items
from pixie.storage.records import AuthorizationRequest, Consent, SsoSession, Tenant, User
from pixie.types import Timestamp

__all__ = [
    "SignedIn",
    "UnreadableForm",
    "attach_csrf_cookie",
    "attach_session_cookie",
    "check_csrf",
    "current_user",
    "end_session_of",
    "finish_with_code",
    "interaction_redirect",
    "next_step",
    "read_page_form",
    "redirect_error",
    "redirect_to_client",
    "scopes_for",
    "start_session",
]


class SignedIn:
    def __init__(
        self, session: SsoSession, user: User, *, consent_for: str | None = None, consent: Consent | None = None
    ) -> None:
        self.session = session
        self.user = user
        self.consent_for = consent_for
        """The client whose consent was read with the session (:attr:`consent`, None when none), if any."""
        self.consent = consent


def scopes_for(tenant: Tenant, pending: AuthorizationRequest, user: User) -> tuple[str, ...]:
    """The requested scopes this user may receive under the tenant's role-gated scopes (what consent shows and the
    code carries). Spec: RFC 6749 §3.3."""
    return permitted(pending.scopes, user.roles, tenant.settings.scope_roles)


def redirect_to_client(
    ctx: AppContext,
    tenant: Tenant,
    uri: str,
    params: list[tuple[str, str]],
    *,
    with_iss: bool = True,
    response_mode: str | None = None,
) -> Response:
    """303 to the client's (already validated) redirect URI, with ``iss`` on authorization responses (RFC 9207
    §2; ``with_iss=False`` for the post-logout redirect, which is no authorization response). With
    ``response_mode="form_post"`` the parameters go instead in a page whose form posts them to the URI at once.

    Spec: RFC 9207 §2; OAuth 2.0 Form Post Response Mode §2 (the form, auto-submitted; ``no-store``)."""
    if with_iss and not any(name == "iss" for name, _ in params):
        params = [*params, ("iss", ctx.issuer(tenant))]
    if response_mode == "form_post":
        page = ctx.page(
            "form_post.html", tenant, redirect_uri=uri, title="Returning to the application", action=uri, fields=params
        )
        # The one page with a script: ours, from /static, that submits the form (no inline script).
        page.headers["Content-Security-Policy"] += "; script-src 'self'"
        page.headers["Cache-Control"] = "no-store"
        return page
    return RedirectResponse(add_query(uri, params), status_code=303, headers={"Cache-Control": "no-store"})


def redirect_error(ctx: AppContext, tenant: Tenant, pending: AuthorizationRequest, error: OAuthError) -> Response:
    params = error.redirect_params(state=pending.state, iss=ctx.issuer(tenant))
    return redirect_to_client(ctx, tenant, pending.redirect_uri, params, response_mode=pending.response_mode)


async def current_user(
    request: Request, ctx: AppContext, tenant: Tenant, now: Timestamp, *, client_id: str | None = None
) -> SignedIn | None:
    """The live SSO session of this browser at this tenant and its (enabled) user, or None. With ``client_id``, the
    user's consent to that client comes in the same read (for :func:`next_step`)."""
    value = read_cookie(request, session_cookie_name(tenant, ctx.issuer(tenant)))
    if not value or len(value) > 256:
        return None
    found = await ctx.storage.sessions.get_signed_in(tenant.id, hash_secret(value), client_id)
    if found is None:
        return None
    session, user, consent = found
    if not session.live(now) or user is None or user.disabled:
        return None
    return SignedIn(session, user, consent_for=client_id, consent=consent)


async def start_session(ctx: AppContext, tenant: Tenant, user: User, now: Timestamp) -> tuple[SsoSession, str]:
    """A new SSO session for ``user``; returns the record and the cookie value (shown once, stored hashed)."""
    value = new_token(32)
    settings = tenant.settings
    session = SsoSession(
        tenant_id=tenant.id,
        session_hash=hash_secret(value),
        user_id=user.user_id,
        auth_time=now,
        created_at=now,
        last_seen_at=now,
        idle_ttl=settings.session_idle_ttl,
        absolute_expires_at=now + settings.session_absolute_ttl,
    )
    await ctx.storage.sessions.create(session)
    return session, value


async def end_session_of(ctx: AppContext, tenant: Tenant, session: SsoSession, now: Timestamp) -> None:
    """End an SSO session: revoke it, and every refresh-token family signed in through it (their access tokens are
    deny-listed with them), so signing out signs the apps out too.

    Spec: OpenID Connect RP-Initiated Logout 1.0 §2; RFC 9700 §4.14.2 (revocation on logout)."""
    await ctx.storage.sessions.revoke(tenant.id, session.session_hash, now)
    await ctx.storage.refresh.revoke_session(tenant.id, session_id(session.session_hash), "logout", now)


class UnreadableForm(InvalidRequest):
    """A login or consent form Pixie will not read; the endpoint shows it on the error page (400)."""


async def read_page_form(request: Request) -> dict[str, str]:
    """The fields of a login or consent form. File parts are refused (``max_files=0``) and the parsed form is
    closed, so no upload can leave temporary files behind. Raises :class:`UnreadableForm`."""
    try:
        async with request.form(max_files=0, max_fields=20) as form:
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
    except HTTPException:  # Starlette's wrapping of python-multipart's refusal: a file, too many fields, no boundary
        raise UnreadableForm("the form has a file, too many fields, or a malformed body") from None
    for value in fields.values():
        if "\x00" in value:
            raise UnreadableForm("form fields must not contain NUL characters")  # PostgreSQL text cannot hold NUL
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, e.g. from a multipart body declared charset=utf-7
            raise UnreadableForm("form fields must be Unicode text") from None
    return fields


def check_csrf(request: Request, ctx: AppContext, tenant: Tenant, pending: AuthorizationRequest, token: str) -> bool:
    """The form's token must equal this browser's cookie for the request, and hash to what the request stored."""
    cookie = read_cookie(request, csrf_cookie_name(tenant, ctx.issuer(tenant), pending.request_id))
    if not cookie or not token:
        return False
    return constant_time_equals(cookie, token) and constant_time_equals(hash_secret(token), pending.csrf_hash)


async def finish_with_code(
    request: Request,
    ctx: AppContext,
    tenant: Tenant,
    pending: AuthorizationRequest,
    user: User,
    auth_time: Timestamp,
    now: Timestamp,
    *,
    session: SsoSession,
    stored: bool = True,
) -> Response:
    """End the request with a code: 303 to the client with ``code``, ``state`` and ``iss``. The code remembers
    ``session`` (its ``sid``), whose end revokes what the code produces.

    A stored pending request is deleted first, and only the caller that deleted it issues a code, so a double
    submit of the consent form cannot mint two codes. (The SSO fast path never stores the request.)
    """
    if stored and not await ctx.storage.requests.delete(tenant.id, pending.request_id):
        return ctx.error_page(InvalidRequest("this sign-in request was already completed"), tenant)
    granted = replace(pending, scopes=scopes_for(tenant, pending, user))
    code = issue_code(
        ctx.code_sealer,
        tenant=tenant,
        request=granted,
        user_id=user.user_id,
        auth_time=auth_time,
        now=now,
        sid=session_id(session.session_hash),
    )
    ctx.events.emit(
        CodeIssued(
            tenant_id=tenant.id,
            client_id=pending.client_id,
            correlation_id=pending.correlation_id,
            duration_ms=round((now - pending.created_at) * 1000, 1),
        )
    )
    params = [("code", code)]
    if pending.state is not None:
        params.append(("state", pending.state))
    response = redirect_to_client(ctx, tenant, pending.redirect_uri, params, response_mode=pending.response_mode)
    if stored:
        issuer = ctx.issuer(tenant)
        clear_cookie(response, name=csrf_cookie_name(tenant, issuer, pending.request_id), issuer=issuer)
    return response


async def next_step(
    ctx: AppContext,
    tenant: Tenant,
    pending: AuthorizationRequest,
    signed_in: SignedIn | None,
    now: Timestamp,
    *,
    just_logged_in: bool = False,
) -> Literal["login", "consent", "code"] | OAuthError:
    """What the request needs next: a login, a consent, nothing more (issue the code), or an error for the client
    (``prompt=none`` when interaction would be needed).

    Spec: RFC 6749 §4.1.1 (authenticate, then obtain an authorization decision); OpenID Connect Core §3.1.2.1
    ``prompt`` semantics, which Pixie follows for ``none``, ``login`` and ``consent``, and ``max_age`` (a session
    signed in longer ago must sign in again), §3.1.2.3.
    """
    too_old = (
        signed_in is not None and pending.max_age is not None and now - signed_in.session.auth_time > pending.max_age
    )
    if signed_in is None or (("login" in pending.prompt or too_old) and not just_logged_in):
        return LoginRequired() if "none" in pending.prompt else "login"
    granted = scopes_for(tenant, pending, signed_in.user)
    if pending.scopes and not granted:
        return AccessDenied("this account may not use any of the requested scopes")
    if signed_in.consent_for == pending.client_id:
        consent = signed_in.consent  # read with the session
    else:
        consent = await ctx.storage.consents.get(tenant.id, signed_in.user.user_id, pending.client_id)
    covered = consent is not None and set(consented_items(granted, pending.resources)) <= set(consent.scopes)
    if not covered or "consent" in pending.prompt:
        return ConsentRequired() if "none" in pending.prompt else "consent"
    return "code"


def interaction_redirect(ctx: AppContext, tenant: Tenant, step: str, pending: AuthorizationRequest) -> Response:
    return RedirectResponse(
        f"{ctx.path(tenant, '/' + step)}?request={pending.request_id}",
        status_code=303,
        headers={"Cache-Control": "no-store"},
    )


def attach_session_cookie(response: Response, ctx: AppContext, tenant: Tenant, value: str, session: SsoSession) -> None:
    issuer = ctx.issuer(tenant)
    set_cookie(
        response,
        name=session_cookie_name(tenant, issuer),
        value=value,
        max_age=int(session.absolute_expires_at - session.created_at),
        issuer=issuer,
    )


def attach_csrf_cookie(
    response: Response, ctx: AppContext, tenant: Tenant, pending: AuthorizationRequest, token: str
) -> None:
    issuer = ctx.issuer(tenant)
    set_cookie(
        response,
        name=csrf_cookie_name(tenant, issuer, pending.request_id),
        value=token,
        max_age=int(pending.expires_at - pending.created_at),
        issuer=issuer,
    )
