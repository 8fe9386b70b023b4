"""The authorization-code grant with PKCE, in its three phases.

1. :func:`validate_authorization_request` — before the user sees anything (STYLE item 6). Errors found before the
   redirect URI is trusted raise :class:`UntrustedRequest` (shown on our page, never redirected); later ones raise
   :class:`RedirectableError` (sent back to the client's redirect URI with ``state`` and ``iss``).
2. :func:`issue_code` — after login and consent.
3. :func:`exchange_code` — the token request.

Spec: RFC 6749 §4.1, RFC 7636, RFC 9700 §2.1.1 and §4.2.4, OAuth 2.1 §4.1; OpenID Connect Core 1.0 §3.1 (the
code flow: request parameters, ID token at the token endpoint).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pixie import pkce
from pixie import scopes as scope_rules
from pixie.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    RequestNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
    safe_text,
)
from pixie.events import EventSink, TokenIssued
from pixie.security import hash_secret, new_id
from pixie.server.protocol.redirect_uris import match_redirect_uri
from pixie.server.protocol.resource_indicators import (
    granted_target,
    resolve_resources,
    resource_values,
    scopes_for_resources,
)
from pixie.server.protocol.sender_constraint import check_binding, token_type
from pixie.storage.interfaces import ClientStore, ResourceStore, Storage
from pixie.storage.records import AuthorizationCode, AuthorizationRequest, Client, RefreshFamily, RefreshToken, Tenant
from pixie.tokens.codes import CodeSealer
from pixie.tokens.issuer import TokenIssuer, new_opaque_secret
from pixie.types import Timestamp

__all__ = [
    "PROMPTS",
    "RESPONSE_MODES",
    "RedirectableError",
    "UntrustedRequest",
    "ValidatedAuthorization",
    "exchange_code",
    "issue_code",
    "new_pending_request",
    "single_params",
    "validate_authorization_request",
]

PROMPTS = ("none", "login", "consent")
RESPONSE_MODES = ("query", "form_post")
"""Spec: OAuth 2.0 Multiple Response Type Encoding Practices §2.1 (``query``); OAuth 2.0 Form Post Response Mode."""
_MAX_STATE = 2048
_AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "nonce",
    "max_age",
    "login_hint",
    "response_mode",
    "dpop_jkt",
)
_MAX_NONCE = 512
_MAX_LOGIN_HINT = 255


_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
"""A base64url SHA-256 JWK thumbprint (RFC 7638), as ``dpop_jkt`` carries it (RFC 9449 §10)."""

MAX_AUTHORIZE_PARAMETERS = 64
"""A real request sends about ten; the cap keeps a crafted one from costing more than a page render."""


class UntrustedRequest(Exception):
    """An error found before ``client_id`` and ``redirect_uri`` are known good: render it, never redirect."""

    def __init__(self, error: OAuthError) -> None:
        super().__init__(error.description)
        self.error = error


class RedirectableError(Exception):
    """An error to send back to a trusted redirect URI (RFC 6749 §4.1.2.1), the way the request asked for
    (``response_mode``: a redirect, or ``form_post``)."""

    def __init__(
        self, error: OAuthError, redirect_uri: str, state: str | None, response_mode: str | None = None
    ) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state
        self.response_mode = response_mode


@dataclass(frozen=True)
class ValidatedAuthorization:
    client: Client
    redirect_uri: str
    redirect_uri_provided: bool
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    code_challenge_method: str
    prompt: tuple[str, ...]
    nonce: str | None = None
    max_age: int | None = None
    login_hint: str | None = None
    dpop_jkt: str | None = None
    response_mode: str | None = None
    resources: tuple[str, ...] = ()


def single_params(pairs: Sequence[tuple[str, str]], names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The last value of each parameter, and the names (among ``names``) that appeared more than once.

    Spec: RFC 6749 §3.1 and §3.2 ("parameters MUST NOT be included more than once").
    """
    values: dict[str, str] = {}
    repeated: list[str] = []
    for name, value in pairs:
        if name in values and name in names and name not in repeated:
            repeated.append(name)
        values[name] = value
    return values, repeated


async def validate_authorization_request(
    pairs: Sequence[tuple[str, str]], *, tenant: Tenant, clients: ClientStore, resources: ResourceStore
) -> ValidatedAuthorization:
    """Check an authorization request completely before any page is shown. The protected resources it names
    (``resource``, any number of times) must be registered; the scopes are cut to those they accept.

    Spec: RFC 6749 §4.1.1 and §3.1.2.4, RFC 7636 §4.3–§4.4, RFC 9700 §2.1 and §4.1.3, OAuth 2.1 §4.1.1;
    RFC 8707 §2.
    """
    if len(pairs) > MAX_AUTHORIZE_PARAMETERS:
        raise UntrustedRequest(InvalidRequest("the request has too many parameters"))
    if any("\x00" in name or "\x00" in value for name, value in pairs):
        raise UntrustedRequest(InvalidRequest("parameters must not contain NUL characters"))
    params, repeated = single_params(pairs, _AUTHORIZE_PARAMS)
    # Phase A: until client_id and redirect_uri are trusted, nothing may be redirected (RFC 6749 §4.1.2.1).
    for name in ("client_id", "redirect_uri"):
        if name in repeated:
            raise UntrustedRequest(InvalidRequest(f"{name} is repeated"))
    client_id = params.get("client_id", "")
    if not client_id:
        raise UntrustedRequest(InvalidRequest("client_id is missing"))
    client = await clients.get(tenant.id, client_id)
    if client is None or client.disabled:
        raise UntrustedRequest(InvalidRequest(f"unknown client {safe_text(client_id)}"))
    presented = params.get("redirect_uri")
    if presented is None:
        # RFC 6749 §3.1.2.3: without redirect_uri the registration must leave no choice.
        if len(client.redirect_uris) != 1:
            raise UntrustedRequest(InvalidRequest("redirect_uri is required for this client"))
        redirect_uri = client.redirect_uris[0]
    elif match_redirect_uri(client.redirect_uris, presented):
        redirect_uri = presented
    else:
        raise UntrustedRequest(InvalidRequest("redirect_uri does not match a registered redirect URI"))

    # Phase B: the redirect URI is trusted; errors go back to the client with state and iss.
    state = params.get("state")
    if state is not None and len(state) > _MAX_STATE:
        state = None  # never reflect an oversized value
        raise RedirectableError(InvalidRequest("state is too long"), redirect_uri, state)

    mode = params.get("response_mode")
    if mode is not None and mode not in RESPONSE_MODES:
        raise RedirectableError(InvalidRequest("response_mode may be query or form_post"), redirect_uri, state)

    def fail(error: OAuthError) -> RedirectableError:
        return RedirectableError(error, redirect_uri, state, mode)

    if repeated:
        raise fail(InvalidRequest(f"parameter repeated: {', '.join(repeated)}"))
    response_type = params.get("response_type")
    if not response_type:
        raise fail(InvalidRequest("response_type is missing"))
    if response_type != "code":
        raise fail(UnsupportedResponseType())
    if (
        "authorization_code" not in client.grant_types
        or "authorization_code" not in tenant.settings.allowed_grant_types
    ):
        raise fail(UnauthorizedClient("this client may not use the authorization code grant"))
    challenge = params.get("code_challenge")
    if not challenge:
        raise fail(InvalidRequest("code_challenge is required (PKCE, S256)"))
    method = params.get("code_challenge_method")
    if method is None:
        # RFC 7636 §4.3 would default to "plain", which Pixie refuses (RFC 9700 §2.1.1).
        raise fail(InvalidRequest("code_challenge_method=S256 is required"))
    try:
        pkce.validate_challenge(challenge, method)
    except pkce.PKCEError as exc:
        raise fail(InvalidRequest(safe_text(str(exc), 120))) from None
    try:
        requested = scope_rules.parse_requested(params.get("scope"))
    except InvalidScope as exc:
        raise fail(exc) from None
    if not requested:
        requested = client.scopes  # RFC 6749 §3.3: a documented default when scope is omitted
    unknown = [s for s in requested if s not in client.scopes and s not in scope_rules.OPENID_SCOPES]
    if unknown:
        raise fail(InvalidScope(f"scope not allowed for this client: {safe_text(' '.join(unknown))}"))
    try:
        target = await resolve_resources(resources, tenant.id, resource_values(pairs))
        requested = scopes_for_resources(requested, target, explicit=bool(params.get("scope")))
    except (InvalidTarget, InvalidScope) as exc:
        raise fail(exc) from None
    prompt = tuple(dict.fromkeys(p for p in params.get("prompt", "").split(" ") if p))
    if any(p not in PROMPTS for p in prompt):
        raise fail(InvalidRequest("prompt may be none, login or consent"))
    if "none" in prompt and len(prompt) > 1:
        raise fail(InvalidRequest("prompt=none cannot be combined with other values"))
    nonce, max_age, login_hint = _openid_parameters(params, fail)
    dpop_jkt = params.get("dpop_jkt")
    if dpop_jkt is not None and not _THUMBPRINT.fullmatch(dpop_jkt):
        raise fail(InvalidRequest("dpop_jkt must be a SHA-256 JWK thumbprint (43 base64url characters)"))
    return ValidatedAuthorization(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_provided=presented is not None,
        scopes=requested,
        state=state,
        code_challenge=challenge,
        code_challenge_method=method,
        prompt=prompt,
        nonce=nonce,
        max_age=max_age,
        login_hint=login_hint,
        dpop_jkt=dpop_jkt,
        response_mode=mode,
        resources=target.identifiers,
    )


def _openid_parameters(
    params: Mapping[str, str], fail: Callable[[OAuthError], RedirectableError]
) -> tuple[str | None, int | None, str | None]:
    """``nonce``, ``max_age`` and ``login_hint``, checked. ``id_token_hint``, ``ui_locales``, ``claims_locales``
    and ``display`` are accepted and ignored (the login page has one language and one layout, and the signed-in
    user decides). ``request`` objects are not supported.

    Spec: OpenID Connect Core 1.0 §3.1.2.1, §3.1.2.6 (``request_not_supported``), §6.
    """
    if "request" in params or "request_uri" in params:
        raise fail(RequestNotSupported())
    nonce = params.get("nonce")
    if nonce is not None and not 0 < len(nonce) <= _MAX_NONCE:
        raise fail(InvalidRequest(f"nonce must be 1-{_MAX_NONCE} characters"))
    max_age: int | None = None
    if "max_age" in params:
        raw = params["max_age"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
            raise fail(InvalidRequest("max_age must be a whole number of seconds"))
        max_age = int(raw)
    login_hint = params.get("login_hint") or None
    if login_hint is not None and (len(login_hint) > _MAX_LOGIN_HINT or not login_hint.isprintable()):
        login_hint = None  # only a hint: one that cannot be a username is dropped, not an error
    return nonce, max_age, login_hint


def new_pending_request(
    validated: ValidatedAuthorization, *, tenant: Tenant, csrf_token: str, now: Timestamp
) -> AuthorizationRequest:
    """The server-side record of a validated request, waiting for login and consent (10 minutes by default)."""
    return AuthorizationRequest(
        tenant_id=tenant.id,
        request_id=new_id(),
        client_id=validated.client.client_id,
        redirect_uri=validated.redirect_uri,
        redirect_uri_provided=validated.redirect_uri_provided,
        scopes=validated.scopes,
        state=validated.state,
        code_challenge=validated.code_challenge,
        code_challenge_method=validated.code_challenge_method,
        prompt=validated.prompt,
        correlation_id=new_id(),
        csrf_hash=hash_secret(csrf_token),
        created_at=now,
        expires_at=now + tenant.settings.request_ttl,
        nonce=validated.nonce,
        max_age=validated.max_age,
        login_hint=validated.login_hint,
        dpop_jkt=validated.dpop_jkt,
        response_mode=validated.response_mode,
        resources=validated.resources,
    )


def issue_code(
    codes: CodeSealer,
    *,
    tenant: Tenant,
    request: AuthorizationRequest,
    user_id: str,
    auth_time: Timestamp,
    now: Timestamp,
    sid: str | None = None,
) -> str:
    """A single-use code bound to client, redirect URI, scope, user and PKCE challenge, sealed (nothing is stored
    until it is redeemed: :mod:`pixie.tokens.codes`). It keeps the request's ``nonce`` and the signed-in session's
    ``sid`` for the ID token.

    Spec: RFC 6749 §4.1.2, RFC 9700 §4.2.4 (short-lived, single use), OAuth 2.1 §4.1.2; OpenID Connect Core 1.0
    §3.1.2.1 (``nonce``).
    """
    return codes.seal(
        AuthorizationCode(
            tenant_id=tenant.id,
            code_hash="",
            client_id=request.client_id,
            user_id=user_id,
            redirect_uri=request.redirect_uri,
            redirect_uri_provided=request.redirect_uri_provided,
            scopes=request.scopes,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            auth_time=auth_time,
            correlation_id=request.correlation_id,
            created_at=now,
            expires_at=now + min(tenant.settings.code_ttl, 60),
            nonce=request.nonce,
            sid=sid,
            dpop_jkt=request.dpop_jkt,
            resources=request.resources,
        )
    )


async def exchange_code(
    params: Mapping[str, str],
    *,
    client: Client,
    tenant: Tenant,
    issuer: str,
    storage: Storage,
    codes: CodeSealer,
    tokens: TokenIssuer,
    events: EventSink,
    now: Timestamp,
    dpop_jkt: str | None = None,
    resources: Sequence[str] = (),
) -> dict[str, Any]:
    """Redeem a code for tokens. The code is opened (no read), checked, the tokens made, and then the code's
    redemption and the refresh family it starts are written at once: the first redemption wins, and a second one —
    whoever makes it, valid or not — revokes what the first produced. ``resources`` (checked ``resource`` values)
    may name a subset of the resources the code was granted for: the access token is for those, the refresh token
    keeps the whole grant.

    Spec: RFC 6749 §4.1.3–§4.1.4, RFC 7636 §4.5–§4.6, RFC 9700 §2.1.1, §4.2.4 and §4.8.2; RFC 8707 §2.2.
    """
    if "authorization_code" not in client.grant_types:
        raise UnauthorizedClient("this client may not use the authorization code grant")
    code = params.get("code")
    if not code:
        raise InvalidRequest("code is missing")
    verifier = params.get("code_verifier")
    if not verifier:
        raise InvalidRequest("code_verifier is required (PKCE)")
    record = codes.open(code, tenant.id)
    if record is None:
        raise InvalidGrant("authorization code is invalid or expired")
    try:
        if now >= record.expires_at:
            raise InvalidGrant("authorization code is invalid or expired")
        if record.client_id != client.client_id:
            raise InvalidGrant("authorization code was issued to another client")
        presented_uri = params.get("redirect_uri")
        if (record.redirect_uri_provided or presented_uri is not None) and presented_uri != record.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        if not pkce.verify(verifier, record.code_challenge, record.code_challenge_method):
            raise InvalidGrant("code_verifier does not match the code_challenge")
        check_binding(record.dpop_jkt, dpop_jkt, "code")  # RFC 9449 §10: the key the request named
        target = await granted_target(storage.resources, tenant.id, record.resources, resources)
    except OAuthError:
        await _refuse_replay(storage, record, now)  # a refused replay of a redeemed code still revokes
        raise
    scopes = scopes_for_resources(record.scopes, target, explicit=False)

    access = await tokens.access_token(
        tenant=tenant,
        issuer=issuer,
        client=client,
        subject=record.user_id,
        scopes=scopes,
        now=now,
        auth_time=record.auth_time,
        dpop_jkt=dpop_jkt,
        resources=target.identifiers,
        ttl=target.access_token_ttl,
    )
    response: dict[str, Any] = {
        "access_token": access.token,
        "token_type": token_type(dpop_jkt),
        "expires_in": access.expires_in,
        "scope": " ".join(scopes),
    }
    if "openid" in record.scopes:
        response["id_token"] = await tokens.id_token(
            tenant=tenant,
            issuer=issuer,
            client=client,
            subject=record.user_id,
            now=now,
            auth_time=record.auth_time,
            nonce=record.nonce,
            sid=record.sid,
            access_token=access.token,
        )
    family: RefreshFamily | None = None
    first: RefreshToken | None = None
    if "refresh_token" in client.grant_types and "refresh_token" in tenant.settings.allowed_grant_types:
        refresh = new_opaque_secret()
        absolute_ttl = client.refresh_absolute_ttl or tenant.settings.refresh_absolute_ttl
        idle_ttl = client.refresh_idle_ttl or tenant.settings.refresh_idle_ttl
        family = RefreshFamily(
            tenant_id=tenant.id,
            family_id=new_id(),
            client_id=client.client_id,
            user_id=record.user_id,
            scopes=record.scopes,
            auth_time=record.auth_time,
            created_at=now,
            absolute_expires_at=now + absolute_ttl,
            dpop_jkt=dpop_jkt if client.client_type == "public" else None,
            sid=record.sid,
            resources=record.resources,
        )
        first = RefreshToken(
            tenant_id=tenant.id,
            token_hash=refresh.digest,
            family_id=family.family_id,
            scopes=record.scopes,
            created_at=now,
            expires_at=min(now + idle_ttl, now + absolute_ttl),
            access_jti=access.jti,
            access_expires_at=access.expires_at,
        )
        response["refresh_token"] = refresh.value
    redeemed = replace(
        record,
        consumed_at=now,
        family_id=family.family_id if family is not None else None,
        access_jti=access.jti,
        access_expires_at=access.expires_at,
    )
    redemption = await storage.codes.redeem(redeemed, family, first)
    if redemption.status == "replayed" and redemption.code is not None:
        await _revoke_issued(storage, redemption.code, now)
        raise InvalidGrant("authorization code was already used; tokens issued from it are revoked")
    if redemption.status != "redeemed":
        raise InvalidGrant("authorization code is invalid or expired")  # its user is gone or disabled
    events.emit(
        TokenIssued(
            tenant_id=tenant.id,
            client_id=client.client_id,
            grant_type="authorization_code",
            correlation_id=record.correlation_id,
            duration_ms=round((now - record.created_at) * 1000, 1),
        )
    )
    return response


async def _refuse_replay(storage: Storage, record: AuthorizationCode, now: Timestamp) -> None:
    """A code that fails a check is looked up (only then: the happy path reads nothing): if it was redeemed before,
    this is a replay, and what it produced is revoked (RFC 9700 §4.2.4), whoever sent it."""
    stored = await storage.codes.get(record.tenant_id, record.code_hash)
    if stored is not None and stored.consumed_at is not None:
        await _revoke_issued(storage, stored, now)
        raise InvalidGrant("authorization code was already used; tokens issued from it are revoked")


async def _revoke_issued(storage: Storage, code: AuthorizationCode, now: Timestamp) -> None:
    """RFC 9700 §4.2.4 / RFC 6749 §4.1.2: a replayed code revokes every token issued from it."""
    if code.family_id is not None:
        await storage.refresh.revoke_family(code.tenant_id, code.family_id, "code_replay", now)
    if code.access_jti is not None and code.access_expires_at is not None and code.access_expires_at > now:
        await storage.denylist.deny(code.tenant_id, code.access_jti, code.access_expires_at)
