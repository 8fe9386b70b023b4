"""OpenID Connect endpoints: ``/userinfo`` and ``/end_session`` (discovery is :mod:`.discovery`'s).

Thin handlers: parse, call :mod:`pixie.server.protocol.openid`, render.

Spec: OpenID Connect Core 1.0 §5.3 (userinfo), Discovery 1.0 §4, RP-Initiated Logout 1.0.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from pixie.errors import InsufficientScope, InvalidDPoPProof, InvalidRequest, InvalidToken, OAuthError
from pixie.resource.credentials import request_credentials
from pixie.security import constant_time_equals, new_token
from pixie.server.context import AppContext, tenant_of
from pixie.server.cookies import clear_cookie, read_cookie, session_cookie_name, set_cookie
from pixie.server.flow import SignedIn, UnreadableForm, current_user, end_session_of, read_page_form, redirect_to_client
from pixie.server.protocol.openid import (
    LogoutRequest,
    session_id,
    user_claims,
    validate_logout_request,
)
from pixie.server.protocol.token_introspection import token_parties, token_user
from pixie.server.rendering import json_response
from pixie.storage.records import Tenant
from pixie.tokens.validation import own_access_token_claims, own_id_token_claims

__all__ = ["end_session", "userinfo"]


def _challenge(error: OAuthError, *, scope: str | None = None, dpop_algs: list[str] | None = None) -> Response:
    """The error with its ``Bearer`` challenge, or, for a request that used DPoP (``dpop_algs``), a ``DPoP``
    challenge naming the accepted algorithms (a proof error is then a 401)."""
    rendered = error.render_bearer(scope=scope)
    headers, status = rendered.headers, rendered.status
    if dpop_algs is not None:
        headers = {**headers, "WWW-Authenticate": error.www_authenticate(scope=scope, scheme="DPoP", algs=dpop_algs)}
        status = 401 if isinstance(error, InvalidDPoPProof) else status
    return Response(rendered.body, status_code=status, headers=headers)


async def userinfo(request: Request) -> Response:
    """``GET`` or ``POST /userinfo`` with ``Authorization: Bearer``, or ``Authorization: DPoP`` and a proof for a
    DPoP-bound token: the claims the token's scopes release about its user. A missing token gets a bare challenge;
    a bad, expired or revoked token ``invalid_token`` (401), and so does a DPoP-bound token sent as a Bearer token;
    a bad proof ``invalid_dpop_proof`` (401); a token without ``openid`` ``insufficient_scope`` (403).

    Spec: OpenID Connect Core 1.0 §5.3, §5.3.3; RFC 6750 §2.1, §3, §3.1; RFC 9449 §7.1 (proofs at a resource), §7.2
    (a DPoP-bound token is never accepted as a Bearer token)."""
    ctx, tenant = await tenant_of(request)
    try:
        credentials = request_credentials(request.scope["headers"])
    except OAuthError as exc:
        return _challenge(exc)
    if credentials is None:
        if request.headers.get("authorization") is not None:
            return _challenge(InvalidRequest("use Authorization: Bearer (or DPoP) <access token>"))
        response = json_response({"error": "invalid_token", "error_description": "an access token is required"})
        response.status_code = 401
        response.headers.update({"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"})
        return response
    token = credentials.token
    algs = ctx.dpop.advertised_algorithms if credentials.scheme == "DPoP" else None
    now = time.time()
    issuer = ctx.issuer(tenant)
    claims = await own_access_token_claims(ctx.keyring, tenant.id, issuer, token, now)
    if claims is None:
        return _challenge(InvalidToken("the access token is invalid, expired, or not issued here"), dpop_algs=algs)
    try:
        await _check_sender(request, ctx, tenant, credentials.scheme, token, claims, f"{issuer}/userinfo")
    except OAuthError as exc:
        return _challenge(exc, dpop_algs=algs)
    if await ctx.storage.denylist.is_denied(tenant.id, str(claims["jti"])):
        return _challenge(InvalidToken("the access token was revoked"), dpop_algs=algs)
    scopes = str(claims.get("scope", "")).split(" ")
    user_id = token_user(claims)
    if "openid" not in scopes or user_id is None:
        scope_error = InsufficientScope("userinfo needs a user's token with the openid scope")
        return _challenge(scope_error, scope="openid", dpop_algs=algs)
    parties = await token_parties(ctx.storage, tenant.id, str(claims.get("client_id", "")), user_id)
    if parties is None or parties[1] is None:
        return _challenge(InvalidToken("the client or user of this access token is disabled or gone"), dpop_algs=algs)
    return json_response(user_claims(parties[1], scopes), no_store=True)


async def _check_sender(
    request: Request, ctx: AppContext, tenant: Tenant, scheme: str, token: str, claims: dict[str, Any], url: str
) -> None:
    """A DPoP-bound token comes with the DPoP scheme and a proof of its key for this request, seen once; an unbound
    one as a Bearer token.

    Spec: RFC 9449 §7.1–7.2, §11.1.
    """
    cnf = claims.get("cnf")
    bound_to = cnf.get("jkt") if isinstance(cnf, dict) else None
    if scheme == "Bearer":
        if cnf is not None:
            raise InvalidToken("a sender-constrained token must be presented with its proof")
        return
    if not isinstance(bound_to, str):
        raise InvalidToken("this token is not bound to a DPoP key: send it as a Bearer token")
    proofs = request.headers.getlist("dpop")
    if len(proofs) != 1:
        raise InvalidDPoPProof("send one DPoP header")
    proof = ctx.dpop.check(proofs[0], method=request.method, url=url, access_token=token)
    if not constant_time_equals(proof.jkt, bound_to):
        raise InvalidDPoPProof("the DPoP proof's key is not the one the token is bound to")
    if not await ctx.storage.proofs.first_use(tenant.id, proof.replay_key, proof.expires_at):
        raise InvalidDPoPProof("the DPoP proof was already used")


_LOGOUT_CSRF = "pixie-logout-csrf"
_LOGOUT_PARAMS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint")


async def end_session(request: Request) -> Response:
    """``GET`` or ``POST /end_session``: RP-Initiated Logout.

    With a valid ``id_token_hint`` about the browser's user (or no session left), the session ends at once: the SSO
    session is revoked with every refresh-token family it produced, the cookie cleared, and the browser sent to the
    registered ``post_logout_redirect_uri`` with ``state`` (or shown "signed out"). Without one, a page asks the
    user to confirm (a CSRF-protected form back to this endpoint), so no other site can sign anyone out. A bad
    request is shown on our error page: never a redirect to a URI the client did not register.

    Spec: OpenID Connect RP-Initiated Logout 1.0 §2, §3, §4; RFC 9700 §4.7 (CSRF).
    """
    ctx, tenant = await tenant_of(request)
    issuer = ctx.issuer(tenant)
    try:
        if request.method == "POST":
            params = await read_page_form(request)
        else:
            params = dict(parse_qsl(request.url.query, keep_blank_values=False))
    except (UnreadableForm, ValueError):
        return ctx.error_page(InvalidRequest("the logout request could not be read"), tenant)
    values = {name: params[name] for name in _LOGOUT_PARAMS if params.get(name)}
    if any("\x00" in value or len(value) > 8192 for value in values.values()):
        return ctx.error_page(InvalidRequest("the logout request has a NUL character or an oversized value"), tenant)
    hint = None
    if "id_token_hint" in values:
        hint = await own_id_token_claims(ctx.keyring, tenant.id, issuer, values["id_token_hint"])
        if hint is None:
            return ctx.error_page(InvalidRequest("id_token_hint is not an ID token issued here"), tenant)
    client_id = values.get("client_id")
    if client_id is None and hint is not None and isinstance(hint.get("aud"), str):
        client_id = hint["aud"]
    client = await ctx.storage.clients.get(tenant.id, client_id[:255]) if client_id else None
    if client is not None and client.disabled:
        client = None
    try:
        logout = validate_logout_request(
            client=client,
            client_id=values.get("client_id"),
            hint_claims=hint,
            post_logout_redirect_uri=values.get("post_logout_redirect_uri"),
            state=values.get("state"),
        )
    except InvalidRequest as exc:
        return ctx.error_page(exc, tenant)
    now = time.time()
    signed_in = await current_user(request, ctx, tenant, now)
    if "csrf_token" in params:  # the user answered our confirmation page
        cookie = read_cookie(request, _LOGOUT_CSRF) or ""
        if not cookie or not constant_time_equals(cookie, params["csrf_token"]):
            return ctx.error_page(
                InvalidRequest("the form could not be verified (CSRF check failed)"), tenant, status=403
            )
        if params.get("decision") != "logout":
            return _finish(ctx, tenant, logout, signed_out=False)
        return await _log_out(request, ctx, tenant, logout, signed_in, now)
    if signed_in is None or (hint is not None and _hint_matches(logout, signed_in)):
        return await _log_out(request, ctx, tenant, logout, signed_in, now)
    return _confirm(ctx, tenant, logout, signed_in)


def _hint_matches(logout: LogoutRequest, signed_in: SignedIn) -> bool:
    """The hint is about this browser's session, or at least its user (who signed in again since)."""
    if logout.hinted_sid is not None and logout.hinted_sid == session_id(signed_in.session.session_hash):
        return True
    return logout.hinted_subject == signed_in.user.user_id


async def _log_out(
    request: Request, ctx: AppContext, tenant: Tenant, logout: LogoutRequest, signed_in: SignedIn | None, now: float
) -> Response:
    if signed_in is not None:
        await end_session_of(ctx, tenant, signed_in.session, now)
    if logout.hinted_sid is not None and (
        signed_in is None or logout.hinted_sid != session_id(signed_in.session.session_hash)
    ):
        # The session the RP's user signed in with (perhaps already gone from this browser) produces no more tokens.
        await ctx.storage.refresh.revoke_session(tenant.id, logout.hinted_sid, "logout", now)
    response = _finish(ctx, tenant, logout, signed_out=True)
    issuer = ctx.issuer(tenant)
    clear_cookie(response, name=session_cookie_name(tenant, issuer), issuer=issuer)
    clear_cookie(response, name=_LOGOUT_CSRF, issuer=issuer)
    return response


def _finish(ctx: AppContext, tenant: Tenant, logout: LogoutRequest, *, signed_out: bool) -> Response:
    if logout.redirect_uri is not None:
        params = [("state", logout.state)] if logout.state is not None else []
        return redirect_to_client(ctx, tenant, logout.redirect_uri, params, with_iss=False)
    if signed_out:
        return ctx.page("message.html", tenant, title="Signed out", message="You are signed out.")
    return ctx.page("message.html", tenant, title="Still signed in", message="You are still signed in.")


def _confirm(ctx: AppContext, tenant: Tenant, logout: LogoutRequest, signed_in: SignedIn) -> Response:
    csrf = new_token(32)
    values: dict[str, Any] = {
        "title": "Sign out?",
        "client_name": logout.client.name or logout.client.client_id if logout.client is not None else None,
        "username": signed_in.user.username,
        "action": ctx.path(tenant, "/end_session"),
        "csrf_token": csrf,
        "client_id": logout.client.client_id if logout.client is not None else None,
        "post_logout_redirect_uri": logout.redirect_uri,
        "state": logout.state,
    }
    response = ctx.page("end_session.html", tenant, redirect_uri=logout.redirect_uri, **values)
    response.headers["Cache-Control"] = "no-store"
    set_cookie(response, name=_LOGOUT_CSRF, value=csrf, max_age=600, issuer=ctx.issuer(tenant))
    return response
